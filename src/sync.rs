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
// wrapped by `trace` (end of this file) so that `poolcheck explain` can draw
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

pub(crate) use {fast_thread_local, global, lazy_thread_local};

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
    use std::sync::Once;

    // From <linux/membarrier.h>.
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    const UNKNOWN: u8 = 0;
    const AVAILABLE: u8 = 1;
    const UNAVAILABLE: u8 = 2;

    /// Written once by [`init`] (under `Once`), read by every light fence.
    /// Every pool calls `init` in its constructor, and a pool is only shared
    /// through something that makes its construction happen-before the
    /// sharing, so every light fence of a pool sees the final value.
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    static INIT: Once = Once::new();

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
        INIT.call_once(|| {
            // Opt-out for measuring or testing the fallback fence pair.
            let opted_out = std::env::var_os(super::NO_MEMBARRIER_ENV).is_some_and(|v| v != "0");
            let state = if !opted_out && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) {
                AVAILABLE
            } else {
                UNAVAILABLE
            };
            STATE.store(state, Ordering::Relaxed);
        });
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

/// Set (to anything but `0`) when the first pool is built, makes the process
/// use the fallback fence pair instead of `membarrier`.
pub(crate) const NO_MEMBARRIER_ENV: &str = "VICTIM_POOL_NO_MEMBARRIER";

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
// Tracing (loom and shuttle only): `poolcheck explain`
// ---------------------------------------------------------------------------

/// A recorder of every shared-memory event of the core under the checkers,
/// for `poolcheck explain` (verification/TOUR.md). Nothing of it exists in a
/// normal build: there the facade re-exports `std`'s types directly.
///
/// The recorder is installed by setting `VICTIM_POOL_TRACE=<file>` for a
/// loom or shuttle test run; unset, every wrapper below costs one cached
/// flag test beside the checker's own operation. Installed, the events of the
/// current execution are kept in memory (a new execution, detected through a
/// per-execution static of the checker, starts a new list), and a panic hook
/// writes them, with the panic message, to the file: the trace of the
/// execution that failed. Tracing adds no scheduling point, so the failing
/// schedule is the one found without it.
///
/// Objects are named by the source line that created them (`#[track_caller]`
/// on `new`) and numbered in creation order within the execution; events
/// carry the source line of the operation. Loom does not say which store a
/// load read from, so each load records the value it returned; the renderer
/// compares it with the object's latest store in the trace to mark stale
/// reads.
///
/// File format, one record a line, tab-separated:
/// `O id kind file:line init` (an object), `E thread id op ordering value
/// value2 file:line` (an event; `-` for a missing field), `P message` (the
/// panic that ended the execution).
#[cfg(any(loom, shuttle))]
mod trace {
    use core::fmt;
    use core::panic::Location;
    use std::fmt::Write as _;
    use std::sync::{Mutex as StdMutex, OnceLock};

    #[cfg(loom)]
    use loom::sync::atomic as backend;
    #[cfg(all(shuttle, not(loom)))]
    use shuttle::sync::atomic as backend;

    use super::Ordering;

    /// What an event did to its object.
    #[derive(Clone, Copy)]
    enum Op {
        Load,
        Store,
        Swap,
        CasOk,
        CasFail,
        Rmw(&'static str),
        Fence,
        CellRead,
        CellWrite,
    }

    struct Event {
        thread: usize,
        obj: u32,
        op: Op,
        ordering: Option<Ordering>,
        value: Option<u64>,
        value2: Option<u64>,
        at: &'static Location<'static>,
    }

    struct Object {
        kind: &'static str,
        init: Option<u64>,
        at: &'static Location<'static>,
    }

    #[derive(Default)]
    struct State {
        execution: u64,
        objects: Vec<Object>,
        events: Vec<Event>,
        /// Written already: the first panic of an execution is its failure
        /// (a checker may panic again to propagate it).
        dumped: bool,
    }

    static FILE: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    static STATE: StdMutex<State> = StdMutex::new(State {
        execution: 0,
        objects: Vec::new(),
        events: Vec::new(),
        dumped: false,
    });

    /// Whether a recorder is installed (`VICTIM_POOL_TRACE` set); installs
    /// the panic hook that writes the trace on first use.
    #[inline]
    fn on() -> bool {
        FILE.get_or_init(|| {
            let path = std::env::var_os("VICTIM_POOL_TRACE").map(std::path::PathBuf::from)?;
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                dump(&info.to_string());
                previous(info);
            }));
            Some(path)
        })
        .is_some()
    }

    fn state() -> std::sync::MutexGuard<'static, State> {
        STATE.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the current execution's trace (called by the panic hook).
    fn dump(message: &str) {
        let Some(Some(path)) = FILE.get() else { return };
        let mut st = state();
        if st.dumped {
            return;
        }
        st.dumped = true;
        let mut out = String::new();
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        for (id, o) in st.objects.iter().enumerate() {
            let _ = writeln!(
                out,
                "O\t{id}\t{}\t{}:{}\t{}",
                o.kind,
                o.at.file(),
                o.at.line(),
                opt(o.init)
            );
        }
        for e in &st.events {
            let op = match e.op {
                Op::Load => "load",
                Op::Store => "store",
                Op::Swap => "swap",
                Op::CasOk => "cas-ok",
                Op::CasFail => "cas-fail",
                Op::Rmw(name) => name,
                Op::Fence => "fence",
                Op::CellRead => "cell-read",
                Op::CellWrite => "cell-write",
            };
            let ordering = e.ordering.map_or("-".to_string(), |o| format!("{o:?}"));
            let obj = if matches!(e.op, Op::Fence) {
                "-".to_string()
            } else {
                e.obj.to_string()
            };
            let _ = writeln!(
                out,
                "E\t{}\t{obj}\t{op}\t{ordering}\t{}\t{}\t{}:{}",
                e.thread,
                opt(e.value),
                opt(e.value2),
                e.at.file(),
                e.at.line()
            );
        }
        let _ = writeln!(out, "P\t{}", message.replace(['\n', '\t'], " "));
        let _ = std::fs::write(path, out);
    }

    /// The checker's number for the running execution: a per-execution
    /// static of the checker, which neither loom nor shuttle turns into a
    /// scheduling point when read.
    #[cfg(loom)]
    fn execution() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        loom::lazy_static! {
            static ref EXECUTION: u64 = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        *EXECUTION
    }

    /// Shuttle: a label on the execution's first task (labels are
    /// per-execution task state and add no scheduling point).
    #[cfg(all(shuttle, not(loom)))]
    fn execution() -> u64 {
        #[derive(Clone, Debug)]
        struct Execution(u64);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let main = shuttle::current::TaskId::from(0);
        if let Some(Execution(n)) = shuttle::current::get_label_for_task::<Execution>(main) {
            return n;
        }
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        shuttle::current::set_label_for_task(main, Execution(n));
        n
    }

    #[cfg(loom)]
    fn thread() -> usize {
        let id = format!("{:?}", loom::thread::current().id());
        id.trim_start_matches("ThreadId(")
            .trim_end_matches(')')
            .parse()
            .unwrap_or(usize::MAX)
    }

    #[cfg(all(shuttle, not(loom)))]
    fn thread() -> usize {
        usize::from(shuttle::current::me())
    }

    /// The state of the running execution (a new one starts a new trace).
    fn current() -> std::sync::MutexGuard<'static, State> {
        let execution = execution();
        let mut st = state();
        if st.execution != execution {
            *st = State {
                execution,
                ..State::default()
            };
        }
        st
    }

    fn new_object(kind: &'static str, init: Option<u64>, at: &'static Location<'static>) -> u32 {
        if !on() {
            return u32::MAX;
        }
        let mut st = current();
        st.objects.push(Object { kind, init, at });
        (st.objects.len() - 1) as u32
    }

    /// Records an event; returns its index (to fill in a value later).
    fn record(
        obj: u32,
        op: Op,
        ordering: Option<Ordering>,
        value: Option<u64>,
        value2: Option<u64>,
        at: &'static Location<'static>,
    ) -> usize {
        let thread = thread();
        let mut st = current();
        st.events.push(Event {
            thread,
            obj,
            op,
            ordering,
            value,
            value2,
            at,
        });
        st.events.len() - 1
    }

    /// `fence`, recorded.
    #[track_caller]
    pub(crate) fn fence(order: Ordering) {
        backend::fence(order);
        if on() {
            record(0, Op::Fence, Some(order), None, None, Location::caller());
        }
    }

    /// The traced atomics: the checker's atomic plus the object's number.
    macro_rules! traced_atomic {
        ($name:ident, $t:ty, $to:expr, $($rmw:ident => $f:expr),*) => {
            pub(crate) struct $name {
                inner: backend::$name,
                id: u32,
            }

            impl fmt::Debug for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    self.inner.fmt(f)
                }
            }

            #[allow(dead_code)]
            impl $name {
                #[track_caller]
                pub(crate) fn new(v: $t) -> Self {
                    let id = new_object(stringify!($name), Some($to(v)), Location::caller());
                    Self { inner: backend::$name::new(v), id }
                }

                #[track_caller]
                fn event(&self, op: Op, o: Ordering, v: $t, v2: Option<$t>) {
                    if on() {
                        record(self.id, op, Some(o), Some($to(v)), v2.map($to), Location::caller());
                    }
                }

                #[track_caller]
                pub(crate) fn load(&self, o: Ordering) -> $t {
                    let v = self.inner.load(o);
                    self.event(Op::Load, o, v, None);
                    v
                }

                #[track_caller]
                pub(crate) fn store(&self, v: $t, o: Ordering) {
                    self.inner.store(v, o);
                    self.event(Op::Store, o, v, None);
                }

                #[track_caller]
                pub(crate) fn swap(&self, v: $t, o: Ordering) -> $t {
                    let old = self.inner.swap(v, o);
                    self.event(Op::Swap, o, old, Some(v));
                    old
                }

                #[track_caller]
                fn cas_event(&self, r: Result<$t, $t>, new: $t, ok: Ordering, fail: Ordering) {
                    match r {
                        Ok(v) => self.event(Op::CasOk, ok, v, Some(new)),
                        Err(v) => self.event(Op::CasFail, fail, v, None),
                    }
                }

                #[track_caller]
                pub(crate) fn compare_exchange(
                    &self,
                    current: $t,
                    new: $t,
                    ok: Ordering,
                    fail: Ordering,
                ) -> Result<$t, $t> {
                    let r = self.inner.compare_exchange(current, new, ok, fail);
                    self.cas_event(r, new, ok, fail);
                    r
                }

                #[track_caller]
                pub(crate) fn compare_exchange_weak(
                    &self,
                    current: $t,
                    new: $t,
                    ok: Ordering,
                    fail: Ordering,
                ) -> Result<$t, $t> {
                    let r = self.inner.compare_exchange_weak(current, new, ok, fail);
                    self.cas_event(r, new, ok, fail);
                    r
                }

                $(
                    #[track_caller]
                    pub(crate) fn $rmw(&self, v: $t, o: Ordering) -> $t {
                        let old = self.inner.$rmw(v, o);
                        #[allow(clippy::redundant_closure_call)]
                        let new = ($f)(old, v);
                        self.event(Op::Rmw(stringify!($rmw)), o, old, Some(new));
                        old
                    }
                )*
            }
        };
    }

    traced_atomic!(AtomicBool, bool, u64::from,
        fetch_or => |a: bool, b: bool| a | b,
        fetch_and => |a: bool, b: bool| a & b);
    traced_atomic!(AtomicU64, u64, core::convert::identity,
        fetch_add => u64::wrapping_add,
        fetch_sub => u64::wrapping_sub,
        fetch_or => |a: u64, b: u64| a | b,
        fetch_and => |a: u64, b: u64| a & b,
        fetch_max => u64::max,
        fetch_min => u64::min);
    traced_atomic!(AtomicUsize, usize, |v: usize| v as u64,
        fetch_add => usize::wrapping_add,
        fetch_sub => usize::wrapping_sub,
        fetch_or => |a: usize, b: usize| a | b,
        fetch_and => |a: usize, b: usize| a & b,
        fetch_max => usize::max,
        fetch_min => usize::min);

    /// `AtomicPtr`, recorded (values are addresses).
    pub(crate) struct AtomicPtr<T> {
        inner: backend::AtomicPtr<T>,
        id: u32,
    }

    impl<T> fmt::Debug for AtomicPtr<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.fmt(f)
        }
    }

    fn addr<T>(p: *mut T) -> u64 {
        p as usize as u64
    }

    #[allow(dead_code)]
    impl<T> AtomicPtr<T> {
        #[track_caller]
        pub(crate) fn new(p: *mut T) -> Self {
            let id = new_object("AtomicPtr", Some(addr(p)), Location::caller());
            Self {
                inner: backend::AtomicPtr::new(p),
                id,
            }
        }

        #[track_caller]
        fn event(&self, op: Op, o: Ordering, v: *mut T, v2: Option<*mut T>) {
            if on() {
                record(
                    self.id,
                    op,
                    Some(o),
                    Some(addr(v)),
                    v2.map(addr),
                    Location::caller(),
                );
            }
        }

        #[track_caller]
        pub(crate) fn load(&self, o: Ordering) -> *mut T {
            let v = self.inner.load(o);
            self.event(Op::Load, o, v, None);
            v
        }

        #[track_caller]
        pub(crate) fn store(&self, v: *mut T, o: Ordering) {
            self.inner.store(v, o);
            self.event(Op::Store, o, v, None);
        }

        #[track_caller]
        pub(crate) fn swap(&self, v: *mut T, o: Ordering) -> *mut T {
            let old = self.inner.swap(v, o);
            self.event(Op::Swap, o, old, Some(v));
            old
        }

        #[track_caller]
        pub(crate) fn compare_exchange(
            &self,
            current: *mut T,
            new: *mut T,
            ok: Ordering,
            fail: Ordering,
        ) -> Result<*mut T, *mut T> {
            let r = self.inner.compare_exchange(current, new, ok, fail);
            match r {
                Ok(v) => self.event(Op::CasOk, ok, v, Some(new)),
                Err(v) => self.event(Op::CasFail, fail, v, None),
            }
            r
        }

        #[track_caller]
        pub(crate) fn compare_exchange_weak(
            &self,
            current: *mut T,
            new: *mut T,
            ok: Ordering,
            fail: Ordering,
        ) -> Result<*mut T, *mut T> {
            let r = self.inner.compare_exchange_weak(current, new, ok, fail);
            match r {
                Ok(v) => self.event(Op::CasOk, ok, v, Some(new)),
                Err(v) => self.event(Op::CasFail, fail, v, None),
            }
            r
        }
    }

    /// A cell value the trace can show: only a plain `u64` (possibly in a
    /// `MaybeUninit`) right after it was written, where every byte is
    /// initialised; anything else is recorded without a value.
    fn cell_value<T: ?Sized>(p: *const T) -> Option<u64> {
        let name = core::any::type_name::<T>();
        if name == "u64" || name == "core::mem::maybe_uninit::MaybeUninit<u64>" {
            // SAFETY:
            // - `T` is `u64` or `MaybeUninit<u64>` (8 bytes, no padding), so
            //   `p` is a thin pointer to 8 bytes, and this is called only
            //   after a write through it, so they are initialised;
            // - the caller still holds the cell's access (inside `with_mut`).
            Some(unsafe { p.cast::<u64>().read() })
        } else {
            None
        }
    }

    #[cfg(loom)]
    type Inner<T> = loom::cell::UnsafeCell<T>;
    #[cfg(all(shuttle, not(loom)))]
    type Inner<T> = core::cell::UnsafeCell<T>;

    /// The facade's `UnsafeCell`, recorded: reads (`with`) and writes
    /// (`with_mut`, with the value written when it is a `u64`).
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T: ?Sized> {
        id: u32,
        inner: Inner<T>,
    }

    impl<T> UnsafeCell<T> {
        #[track_caller]
        pub(crate) fn new(value: T) -> Self {
            let id = new_object("UnsafeCell", None, Location::caller());
            Self {
                id,
                inner: Inner::new(value),
            }
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        /// Runs `f` with a shared raw pointer to the contents.
        #[track_caller]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            if on() {
                // Recorded first: a racing access makes loom panic inside.
                record(self.id, Op::CellRead, None, None, None, Location::caller());
            }
            #[cfg(loom)]
            return self.inner.with(f);
            #[cfg(all(shuttle, not(loom)))]
            return f(self.inner.get());
        }

        /// Runs `f` with an exclusive raw pointer to the contents.
        #[track_caller]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            if !on() {
                #[cfg(loom)]
                return self.inner.with_mut(f);
                #[cfg(all(shuttle, not(loom)))]
                return f(self.inner.get());
            }
            let at = Location::caller();
            let index = record(self.id, Op::CellWrite, None, None, None, at);
            let g = |p: *mut T| {
                let r = f(p);
                let value = cell_value::<T>(p);
                if let Some(e) = state().events.get_mut(index) {
                    e.value = value;
                }
                r
            };
            #[cfg(loom)]
            return self.inner.with_mut(g);
            #[cfg(all(shuttle, not(loom)))]
            return g(self.inner.get());
        }
    }
}
