//! The one door through which the core reaches shared memory.
//!
//! Every atomic, `UnsafeCell`, mutex, `Arc`, thread-local, global, spin hint,
//! fence and thread spawn in `dequeue`, `chain` and `pool` comes from here, so
//! that a model checker sees all of them:
//!
//! | build                          | backend                                   |
//! |--------------------------------|-------------------------------------------|
//! | default                        | `std` (+ `membarrier(2)` for [`heavy_fence`]) |
//! | `RUSTFLAGS="--cfg loom"`       | [loom](https://docs.rs/loom): exhaustive, C11 weak memory |
//! | `RUSTFLAGS="--cfg shuttle"`    | [shuttle](https://docs.rs/shuttle): randomized/PCT schedules |
//!
//! Under the checkers (and Miri) the asymmetric fence pair degrades to a pair
//! of real `SeqCst` fences, which is the textbook Dekker pattern the
//! asymmetric version is an optimisation of (see DESIGN.md, "Asymmetric
//! fences").

#![allow(unused_imports)]

#[cfg(loom)]
pub(crate) use loom::{
    hint::spin_loop,
    sync::{atomic::Ordering, Arc, Mutex, MutexGuard},
    thread,
};

#[cfg(all(shuttle, not(loom)))]
pub(crate) use shuttle::{
    hint::spin_loop,
    sync::{atomic::Ordering, Arc, Mutex, MutexGuard},
    thread,
};

// Under the checkers the atomics, fences and cells are the checker's own,
// wrapped by `trace` (`sync/trace.rs`, checkers only) so that `poolcheck explain` can draw
// every shared-memory event of an execution.
#[cfg(any(loom, shuttle))]
pub(crate) use trace::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, UnsafeCell};

#[cfg(not(any(loom, shuttle)))]
pub(crate) use std::{
    hint::spin_loop,
    sync::{
        atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
    thread,
};

/// Capacity of the first segment of a chain. Shrunk under loom so that a
/// model reaches segment growth in a handful of pushes (tokio does the same
/// with its 4-vs-256 local queue).
#[cfg(not(loom))]
pub(crate) const CHAIN_FIRST_SEGMENT: usize = 8;
#[cfg(loom)]
pub(crate) const CHAIN_FIRST_SEGMENT: usize = 2;

/// Largest segment a chain grows to (Go: `dequeueLimit`, 2^30).
#[cfg(not(loom))]
pub(crate) const CHAIN_SEGMENT_LIMIT: usize = 1 << 30;
#[cfg(loom)]
pub(crate) const CHAIN_SEGMENT_LIMIT: usize = 4;

/// `UnsafeCell` with loom's closure-shaped API (`with` / `with_mut`); on
/// std it is a zero-cost wrapper. Under the checkers it is
/// `trace::UnsafeCell`, over loom's cell (which tracks every slot access)
/// or over `core::cell::UnsafeCell` under shuttle.
#[cfg(not(any(loom, shuttle)))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

#[cfg(not(any(loom, shuttle)))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }
}

#[cfg(not(any(loom, shuttle)))]
impl<T: ?Sized> UnsafeCell<T> {
    /// Runs `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with an exclusive raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// An object's allocation and free, as loom sees them. Loom models the
/// initialising writes of an atomic as nothing a racing reader could
/// observe, and a free not at all, so an ordering that publishes a new chain,
/// segment or slot, or that makes its last use happen-before its free, could
/// be lost without a trace. Under loom this is a cell created with the
/// object (the allocation is a write), read by [`touch`](Self::touch) where
/// another thread starts to use the object, and written by
/// [`retire`](Self::retire) just before the object is freed: a use that
/// does not happen-after the allocation, or a free that does not
/// happen-after every use, is a causality violation naming the object's
/// creation. Nothing on std and under shuttle (sequentially consistent).
#[derive(Debug)]
pub(crate) struct Lifecycle {
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<()>,
}

impl Lifecycle {
    #[inline(always)]
    #[track_caller]
    pub(crate) fn new() -> Self {
        // Loom's clocks tick only at atomic operations, and a cell records
        // the creating thread's clock: without a tick of its own, the
        // creation would look as old as the thread's last atomic operation
        // (a Release there would seem to publish it). A Relaxed load of a
        // private atomic ticks and orders nothing.
        #[cfg(loom)]
        loom::sync::atomic::AtomicBool::new(false).load(Ordering::Relaxed);
        Self {
            #[cfg(loom)]
            cell: loom::cell::UnsafeCell::new(()),
        }
    }

    /// This thread uses the object: its allocation must happen-before.
    #[inline(always)]
    pub(crate) fn touch(&self) {
        #[cfg(loom)]
        self.cell.with(|_| ());
    }

    /// The object is about to be freed: every use must happen-before.
    #[inline(always)]
    pub(crate) fn retire(&self) {
        #[cfg(loom)]
        self.cell.with_mut(|_| ());
    }
}

/// Checks an internal invariant of the protocol in debug builds and under
/// the model checkers (whose builds are optimised): a broken one panics with
/// the rule it breaks, before it can turn into a crash that names nothing.
macro_rules! invariant {
    ($cond:expr, $($rule:tt)+) => {
        if cfg!(any(debug_assertions, loom, shuttle)) && !$cond {
            panic!("victim-pool internal invariant broken: {}", format_args!($($rule)+));
        }
    };
}

/// Declares a thread-local; `const` initialised on std (no lazy-init check
/// and no destructor registration on the fast path).
macro_rules! fast_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(any(loom, shuttle)))]
        ::std::thread_local! { $(#[$attr])* static $name: $t = const { $init }; }
        #[cfg(loom)]
        ::loom::thread_local! { $(#[$attr])* static $name: $t = $init; }
        #[cfg(all(shuttle, not(loom)))]
        ::shuttle::thread_local! { $(#[$attr])* static $name: $t = $init; }
    };
}

/// Declares a thread-local whose value has a destructor (lazily initialised).
macro_rules! lazy_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(any(loom, shuttle)))]
        ::std::thread_local! { $(#[$attr])* static $name: $t = $init; }
        #[cfg(loom)]
        ::loom::thread_local! { $(#[$attr])* static $name: $t = $init; }
        #[cfg(all(shuttle, not(loom)))]
        ::shuttle::thread_local! { $(#[$attr])* static $name: $t = $init; }
    };
}

/// Declares a process-wide global. Under the checkers globals are reset for
/// every execution, so they are `lazy_static`s of the checker.
macro_rules! global {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(any(loom, shuttle)))]
        $(#[$attr])* static $name: $t = $init;
        #[cfg(loom)]
        ::loom::lazy_static! { $(#[$attr])* static ref $name: $t = $init; }
        #[cfg(all(shuttle, not(loom)))]
        ::shuttle::lazy_static! { $(#[$attr])* static ref $name: $t = $init; }
    };
}

pub(crate) use {fast_thread_local, global, invariant, lazy_thread_local};

/// Locks `mutex`, ignoring poisoning: every critical section in this crate
/// leaves its data consistent before it can unwind (user code never runs
/// under one of these locks).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// Asymmetric fences
// ---------------------------------------------------------------------------
//
// The pool's owner fast path (a private hit) must not pay for a store-load
// fence, yet `cleanup` must be able to tell whether an owner is inside an
// operation (Dekker: owner writes `pin` then reads `gate`, cleanup writes
// `gate` then reads `pin`). The classic fix is a `SeqCst` fence on both
// sides. The asymmetric version moves the whole cost to the rare side:
// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` makes every running thread of
// the process execute a full barrier, so the frequent side only needs to stop
// the *compiler* from reordering. Where membarrier is unavailable (old
// kernels, non-Linux, Miri, the model checkers) both sides fall back to real
// `SeqCst` fences.

#[cfg(all(target_os = "linux", not(any(loom, shuttle, miri))))]
mod membarrier {
    use std::sync::atomic::{AtomicU8, Ordering};

    /// Set (to anything but `0`) when the first pool is built, makes the
    /// process use the fallback fence pair instead of `membarrier`.
    const NO_MEMBARRIER_ENV: &str = "VICTIM_POOL_NO_MEMBARRIER";

    // From <linux/membarrier.h>.
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    const UNKNOWN: u8 = 0;
    const AVAILABLE: u8 = 1;
    const UNAVAILABLE: u8 = 2;

    /// Written once by [`init`] (a compare-exchange from `UNKNOWN`), read
    /// by every light fence. Every pool calls `init` in its constructor,
    /// and a pool is only shared through something that makes its
    /// construction happen-before the sharing, so every light fence of a
    /// pool sees the final value. Not a `Once`: a child forked while
    /// another thread was inside `Once::call_once` would wait for that
    /// thread for ever.
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    fn membarrier(cmd: libc::c_long) -> bool {
        // SAFETY:
        // - `membarrier` takes (cmd, flags, cpu_id) integers and touches no
        //   memory of ours; an unknown command returns -1 (EINVAL/ENOSYS).
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            ) == 0
        }
    }

    pub(crate) fn init() {
        if STATE.load(Ordering::Relaxed) != UNKNOWN {
            return;
        }
        // Opt-out for measuring or testing the fallback fence pair.
        let opted_out = std::env::var_os(NO_MEMBARRIER_ENV).is_some_and(|v| v != "0");
        let state = if !opted_out && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) {
            AVAILABLE
        } else {
            UNAVAILABLE
        };
        // Threads that race here each try to register; the first to
        // finish decides for the whole process (registering twice is
        // harmless).
        let _ = STATE.compare_exchange(UNKNOWN, state, Ordering::Relaxed, Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn available() -> bool {
        STATE.load(Ordering::Relaxed) == AVAILABLE
    }

    /// Issues the process-wide barrier. `None` when membarrier is not in
    /// use (then every light fence is a real `SeqCst` fence instead);
    /// `Some(false)` when the kernel refused it.
    pub(crate) fn barrier() -> Option<bool> {
        if !available() {
            return None;
        }
        // A registered process gets no error here but two: a child of
        // `fork` may start with the registration cleared (it is per address
        // space), so register again and retry once; and the expedited path
        // may fail with ENOMEM, or EPERM under a seccomp filter installed
        // after start-up. The caller must then not rely on the fence.
        Some(
            membarrier(CMD_PRIVATE_EXPEDITED)
                || (membarrier(CMD_REGISTER_PRIVATE_EXPEDITED)
                    && membarrier(CMD_PRIVATE_EXPEDITED)),
        )
    }
}

/// Prepares the asymmetric fences; called by every pool constructor.
pub(crate) fn init_fences() {
    #[cfg(all(target_os = "linux", not(any(loom, shuttle, miri))))]
    membarrier::init();
}

/// Which fence pair orders an owner's operation against cleanup in this
/// process (DESIGN.md §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FenceMode {
    /// Linux `membarrier(2)`: Get and Put need only a compiler fence, and
    /// cleanup makes every running thread execute a full barrier.
    Membarrier,
    /// A `SeqCst` fence on both sides: other operating systems, kernels
    /// without `MEMBARRIER_CMD_PRIVATE_EXPEDITED`, Miri, or
    /// `VICTIM_POOL_NO_MEMBARRIER` set. Every Get and Put then pays for a
    /// full hardware fence.
    Fallback,
}

/// The fence pair this process uses, decided when its first pool is built
/// (before that, the mode the first pool will pick). A private Get+Put costs
/// noticeably more in [`FenceMode::Fallback`]; benches/README.md measures it.
pub fn fence_mode() -> FenceMode {
    init_fences();
    #[cfg(all(target_os = "linux", not(any(loom, shuttle, miri))))]
    if membarrier::available() {
        return FenceMode::Membarrier;
    }
    FenceMode::Fallback
}

/// The frequent side of the asymmetric fence pair (pairs with
/// [`heavy_fence`]). A compiler fence when membarrier is available, a `SeqCst`
/// fence otherwise.
#[inline(always)]
pub(crate) fn light_fence() {
    // Under loom with the heavy fence failing (fault injection), model the
    // owners of a process whose membarrier was refused: compiler-only
    // fences, which order nothing with other threads.
    #[cfg(all(loom, feature = "fault-injection"))]
    if crate::fault_injection::armed(crate::fault_injection::Fault::HeavyFence) {
        return;
    }
    #[cfg(all(target_os = "linux", not(any(loom, shuttle, miri))))]
    if membarrier::available() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        return;
    }
    fence(Ordering::SeqCst);
}

/// The heavy fence could not be issued: the kernel refused `membarrier`
/// (or a test injected that refusal). Light fences executed by other threads
/// are then *not* ordered with anything this thread did: the caller must not
/// rely on seeing their stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FenceFailed;

/// The rare side of the asymmetric fence pair (pairs with every
/// [`light_fence`]): after it returns `Ok`, every light fence executed by any
/// thread is ordered with it as if both were `SeqCst` fences. It never
/// unwinds: a failure is returned, and the caller must fail closed
/// (DESIGN.md §6.4).
#[must_use = "a failed heavy fence orders nothing: the caller must fail closed"]
pub(crate) fn heavy_fence() -> Result<(), FenceFailed> {
    #[cfg(feature = "fault-injection")]
    if crate::fault_injection::should_fail(crate::fault_injection::Fault::HeavyFence) {
        // No fence at all: a refused barrier orders nothing, and the
        // checkers (Miri, loom) must see a cleanup that relied on it race.
        return Err(FenceFailed);
    }
    #[cfg(all(target_os = "linux", not(any(loom, shuttle, miri))))]
    match membarrier::barrier() {
        Some(true) => return Ok(()),
        Some(false) => return Err(FenceFailed),
        None => {}
    }
    fence(Ordering::SeqCst);
    Ok(())
}

/// Called before the core allocates a chain or a segment: the point where a
/// test can make that allocation panic (feature `fault-injection`).
#[inline]
pub(crate) fn before_chain_allocation() {
    #[cfg(feature = "fault-injection")]
    if crate::fault_injection::should_fail(crate::fault_injection::Fault::ChainAllocation) {
        panic!("victim-pool fault injection: chain allocation failed");
    }
}

// ---------------------------------------------------------------------------
// Tracing, seals and use-after-free detection (loom and shuttle only):
// `poolcheck explain` and the checkers' machinery, in `sync/trace.rs`.
// ---------------------------------------------------------------------------

#[cfg(any(loom, shuttle))]
mod trace;
