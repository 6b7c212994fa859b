//! Shared pieces of the benchmarks: the item types, the pools compared (each
//! behind [`Peer`]), and a RunParallel-style thread team.
//!
//! Every peer is driven through its fastest honest API:
//! - pools that hand out plain `T` (victim-pool, the thread-local bound,
//!   crossbeam queues, `object-pool` via `attach`/`detach`) get and put `T`;
//! - guard-only pools (`opool`, `lockfree-object-pool`) hand out their guard
//!   and "put" by dropping it, which is how they are meant to be used.

#![allow(dead_code, reason = "each bench binary uses a different subset")]

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Thread counts of every shape (the machine has 2 cores: 4 and 8 are the
/// oversubscribed cases).
pub const THREADS: [usize; 4] = [1, 2, 4, 8];

/// True when `BENCH_QUICK` is set to anything but `0`/empty.
pub fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A pooled item type: how to make a fresh one, and a short name.
pub trait Item: Send + Sync + 'static {
    /// Short name used in benchmark ids.
    const NAME: &'static str;
    /// A fresh item (what New returns).
    fn fresh() -> Self;
    /// Touches the item so the work is not optimised away.
    fn touch(&mut self);
}

impl Item for Vec<u8> {
    const NAME: &'static str = "vec1k";
    fn fresh() -> Self {
        Vec::with_capacity(1024)
    }
    #[inline]
    fn touch(&mut self) {
        black_box(self);
    }
}

impl Item for Box<u64> {
    const NAME: &'static str = "box_u64";
    fn fresh() -> Self {
        Box::new(42)
    }
    #[inline]
    fn touch(&mut self) {
        black_box(self);
    }
}

/// A 128-byte item held by value: what moving a larger `T` through the
/// pool's slots costs (Go pools it as a pointer, `*[16]uint64`).
#[derive(Clone, Copy)]
pub struct Array128(pub [u64; 16]);

impl Item for Array128 {
    const NAME: &'static str = "array128";
    fn fresh() -> Self {
        Array128([42; 16])
    }
    #[inline]
    fn touch(&mut self) {
        black_box(self);
    }
}

/// New, as every pool sees it.
pub type NewFn<T> = Arc<dyn Fn() -> T + Send + Sync>;

/// A pool under comparison.
///
/// `Cx` is per-thread state made on the worker thread (`LocalHandle` for
/// victim-pool's local API); `Held` is what a Get hands out (`T` or a guard).
pub trait Peer<T: Item>: Sync + Sized {
    /// Row name in the report.
    const NAME: &'static str;
    /// Whether [`Peer::try_get`] exists (a Get that never calls New).
    const HAS_TRY_GET: bool;
    /// Whether a held item can be taken out of the pool for good
    /// ([`Peer::discard`]) and items from outside put in ([`Peer::fresh`]).
    const CAN_DISCARD: bool;
    /// Per-thread context.
    type Cx<'a>
    where
        Self: 'a;
    /// What a Get hands out.
    type Held<'a>
    where
        Self: 'a;
    /// Builds the pool with New.
    fn build(new_fn: NewFn<T>) -> Self;
    /// Per-thread context, made on the worker.
    fn cx(&self) -> Self::Cx<'_>;
    /// Get with New.
    fn get<'a>(&'a self, cx: &Self::Cx<'a>) -> Self::Held<'a>;
    /// Get without New (only called when `HAS_TRY_GET`).
    fn try_get<'a>(&'a self, cx: &Self::Cx<'a>) -> Option<Self::Held<'a>>;
    /// Put (for guards: drop the guard).
    fn put<'a>(&'a self, cx: &Self::Cx<'a>, held: Self::Held<'a>);
    /// Takes a held item out of the pool's custody and drops it.
    fn discard<'a>(&'a self, held: Self::Held<'a>);
    /// An item from outside the pool (only called when `CAN_DISCARD`).
    fn fresh<'a>(&'a self, cx: &Self::Cx<'a>) -> Self::Held<'a>;
    /// Touches a held item.
    fn touch(held: &mut Self::Held<'_>);
}

// ---------------------------------------------------------------- victim-pool

/// A pool with Go's API (`new`, `get`, `try_get`, `put`), used through
/// it directly: one peer impl for the lock-free pool and its specification.
macro_rules! go_api_peer {
    ($(#[$doc:meta])* $peer:ident, $pool:ty, $name:literal) => {
        $(#[$doc])*
        pub struct $peer<T>(pub $pool, NewFn<T>);

        impl<T: Item> Peer<T> for $peer<T> {
            const NAME: &'static str = $name;
            const HAS_TRY_GET: bool = true;
            const CAN_DISCARD: bool = true;
            type Cx<'a> = ();
            type Held<'a> = T;
            fn build(new_fn: NewFn<T>) -> Self {
                let f = new_fn.clone();
                Self(<$pool>::new(move || f()), new_fn)
            }
            fn cx(&self) {}
            #[inline]
            fn get(&self, _: &()) -> T {
                self.0.get()
            }
            #[inline]
            fn try_get(&self, _: &()) -> Option<T> {
                self.0.try_get()
            }
            #[inline]
            fn put(&self, _: &(), held: T) {
                self.0.put(held)
            }
            fn discard(&self, held: T) {
                drop(held)
            }
            fn fresh(&self, _: &()) -> T {
                (self.1)()
            }
            #[inline]
            fn touch(held: &mut T) {
                held.touch()
            }
        }
    };
}

go_api_peer!(
    /// `victim_pool::Pool` through `Pool::get` / `Pool::put` (thread-local
    /// lookup on every call).
    Victim,
    victim_pool::Pool<T>,
    "victim-pool"
);

go_api_peer!(
    /// `victim_pool::Pool` through `Pool::get` / `Pool::put`, like [`Victim`],
    /// in a process that runs with the fallback fence pair (a `SeqCst` fence
    /// on every Get and Put): `shapes` runs only this peer, and only when
    /// `BENCH_FALLBACK=1` and `VICTIM_POOL_NO_MEMBARRIER=1` are set. Its own
    /// name keeps its results apart from [`Victim`]'s in the same
    /// `CRITERION_HOME`.
    VictimFallback,
    victim_pool::Pool<T>,
    "victim-pool fallback"
);

/// `victim_pool::Pool` through a per-thread `LocalHandle` (no thread-local
/// lookup per call).
pub struct VictimLocal<T>(pub victim_pool::Pool<T>, NewFn<T>);

impl<T: Item> Peer<T> for VictimLocal<T> {
    const NAME: &'static str = "victim-pool local";
    const HAS_TRY_GET: bool = true;
    const CAN_DISCARD: bool = true;
    type Cx<'a> = victim_pool::LocalHandle<'a, T>;
    type Held<'a> = T;
    fn build(new_fn: NewFn<T>) -> Self {
        let f = new_fn.clone();
        Self(victim_pool::Pool::new(move || f()), new_fn)
    }
    fn cx(&self) -> victim_pool::LocalHandle<'_, T> {
        self.0.local()
    }
    #[inline]
    fn get<'a>(&'a self, cx: &victim_pool::LocalHandle<'a, T>) -> T {
        cx.get()
    }
    #[inline]
    fn try_get<'a>(&'a self, cx: &victim_pool::LocalHandle<'a, T>) -> Option<T> {
        cx.try_get()
    }
    #[inline]
    fn put<'a>(&'a self, cx: &victim_pool::LocalHandle<'a, T>, held: T) {
        cx.put(held)
    }
    fn discard(&self, held: T) {
        drop(held)
    }
    fn fresh<'a>(&'a self, _: &victim_pool::LocalHandle<'a, T>) -> T {
        (self.1)()
    }
    #[inline]
    fn touch(held: &mut T) {
        held.touch()
    }
}

// ------------------------------------------------------------ reference spec

go_api_peer!(
    /// The mutex reference specification (`victim-pool-reference`): the
    /// same Go semantics without any tuning, for scale.
    Reference,
    victim_pool_reference::Pool<T>,
    "reference spec (mutex)"
);

// ------------------------------------------------------- thread-local bound

/// Item types with their own `thread_local!` free list (one static per type:
/// `thread_local!` cannot be generic).
pub trait TlsFree: Item + Sized {
    /// Runs `f` on this thread's free list.
    fn with_free<R>(f: impl FnOnce(&mut Vec<Self>) -> R) -> R;
}

thread_local! {
    static FREE_VEC: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    // `Box<u64>` on purpose: the same item type as every pool.
    #[allow(clippy::vec_box)]
    static FREE_BOX: RefCell<Vec<Box<u64>>> = const { RefCell::new(Vec::new()) };
}

impl TlsFree for Vec<u8> {
    #[inline]
    fn with_free<R>(f: impl FnOnce(&mut Vec<Self>) -> R) -> R {
        FREE_VEC.with(|free| f(&mut free.borrow_mut()))
    }
}

thread_local! {
    static FREE_ARRAY: RefCell<Vec<Array128>> = const { RefCell::new(Vec::new()) };
}

impl TlsFree for Array128 {
    #[inline]
    fn with_free<R>(f: impl FnOnce(&mut Vec<Self>) -> R) -> R {
        FREE_ARRAY.with(|free| f(&mut free.borrow_mut()))
    }
}

impl TlsFree for Box<u64> {
    #[inline]
    fn with_free<R>(f: impl FnOnce(&mut Vec<Self>) -> R) -> R {
        FREE_BOX.with(|free| f(&mut free.borrow_mut()))
    }
}

/// The unshared lower bound: a `thread_local!` `Vec` free list. No stealing,
/// no cleanup; every thread only sees what it put.
pub struct TlsVec<T>(NewFn<T>);

impl<T: TlsFree> Peer<T> for TlsVec<T> {
    const NAME: &'static str = "thread-local Vec (bound)";
    const HAS_TRY_GET: bool = true;
    const CAN_DISCARD: bool = true;
    type Cx<'a> = ();
    type Held<'a> = T;
    fn build(new_fn: NewFn<T>) -> Self {
        Self(new_fn)
    }
    fn cx(&self) {}
    #[inline]
    fn get(&self, _: &()) -> T {
        match T::with_free(Vec::pop) {
            Some(v) => v,
            None => (self.0)(),
        }
    }
    #[inline]
    fn try_get(&self, _: &()) -> Option<T> {
        T::with_free(Vec::pop)
    }
    #[inline]
    fn put(&self, _: &(), held: T) {
        T::with_free(|free| free.push(held))
    }
    fn discard(&self, held: T) {
        drop(held)
    }
    fn fresh(&self, _: &()) -> T {
        (self.0)()
    }
    #[inline]
    fn touch(held: &mut T) {
        held.touch()
    }
}

// ------------------------------------------------------------- plain alloc

/// No pool: Get allocates, Put frees (the system allocator). Its Get
/// without New finds nothing, so in Starvation (no New) a worker gets all
/// its items fresh: what a program without a pool allocates for the same
/// work, the baseline of the target "never slower than plain allocation".
pub struct Alloc<T>(NewFn<T>);

impl<T: Item> Peer<T> for Alloc<T> {
    const NAME: &'static str = "alloc (no pool)";
    const HAS_TRY_GET: bool = true;
    const CAN_DISCARD: bool = true;
    type Cx<'a> = ();
    type Held<'a> = T;
    fn build(new_fn: NewFn<T>) -> Self {
        Self(new_fn)
    }
    fn cx(&self) {}
    #[inline]
    fn get(&self, _: &()) -> T {
        (self.0)()
    }
    fn try_get(&self, _: &()) -> Option<T> {
        None
    }
    #[inline]
    fn put(&self, _: &(), held: T) {
        drop(held)
    }
    fn discard(&self, held: T) {
        drop(held)
    }
    fn fresh(&self, _: &()) -> T {
        (self.0)()
    }
    #[inline]
    fn touch(held: &mut T) {
        held.touch()
    }
}

// --------------------------------------------------------- crossbeam-queue

/// Capacity of the bounded peers: 8 threads × 100 items (Overflow) fit.
pub const BOUNDED_CAP: usize = 1024;

/// `crossbeam_queue::ArrayQueue` as a pool (a full queue drops the item).
pub struct ArrayQ<T>(crossbeam_queue::ArrayQueue<T>, NewFn<T>);

impl<T: Item> Peer<T> for ArrayQ<T> {
    const NAME: &'static str = "crossbeam ArrayQueue";
    const HAS_TRY_GET: bool = true;
    const CAN_DISCARD: bool = true;
    type Cx<'a> = ();
    type Held<'a> = T;
    fn build(new_fn: NewFn<T>) -> Self {
        Self(crossbeam_queue::ArrayQueue::new(BOUNDED_CAP), new_fn)
    }
    fn cx(&self) {}
    #[inline]
    fn get(&self, _: &()) -> T {
        match self.0.pop() {
            Some(v) => v,
            None => (self.1)(),
        }
    }
    #[inline]
    fn try_get(&self, _: &()) -> Option<T> {
        self.0.pop()
    }
    #[inline]
    fn put(&self, _: &(), held: T) {
        let _ = self.0.push(held);
    }
    fn discard(&self, held: T) {
        drop(held)
    }
    fn fresh(&self, _: &()) -> T {
        (self.1)()
    }
    #[inline]
    fn touch(held: &mut T) {
        held.touch()
    }
}

/// `crossbeam_queue::SegQueue` as a pool (unbounded).
pub struct SegQ<T>(crossbeam_queue::SegQueue<T>, NewFn<T>);

impl<T: Item> Peer<T> for SegQ<T> {
    const NAME: &'static str = "crossbeam SegQueue";
    const HAS_TRY_GET: bool = true;
    const CAN_DISCARD: bool = true;
    type Cx<'a> = ();
    type Held<'a> = T;
    fn build(new_fn: NewFn<T>) -> Self {
        Self(crossbeam_queue::SegQueue::new(), new_fn)
    }
    fn cx(&self) {}
    #[inline]
    fn get(&self, _: &()) -> T {
        match self.0.pop() {
            Some(v) => v,
            None => (self.1)(),
        }
    }
    #[inline]
    fn try_get(&self, _: &()) -> Option<T> {
        self.0.pop()
    }
    #[inline]
    fn put(&self, _: &(), held: T) {
        self.0.push(held)
    }
    fn discard(&self, held: T) {
        drop(held)
    }
    fn fresh(&self, _: &()) -> T {
        (self.1)()
    }
    #[inline]
    fn touch(held: &mut T) {
        held.touch()
    }
}

// ------------------------------------------------------------- object-pool

/// `object_pool::Pool` (a `parking_lot::Mutex<Vec<T>>`) through
/// `attach` (Put) and `try_pull` + `detach` (Get): plain `T`s, no guard.
pub struct ObjectPool<T>(object_pool::Pool<T>, NewFn<T>);

impl<T: Item> Peer<T> for ObjectPool<T> {
    const NAME: &'static str = "object-pool";
    const HAS_TRY_GET: bool = true;
    const CAN_DISCARD: bool = true;
    type Cx<'a> = ();
    type Held<'a> = T;
    fn build(new_fn: NewFn<T>) -> Self {
        Self(object_pool::Pool::new(0, || unreachable!()), new_fn)
    }
    fn cx(&self) {}
    #[inline]
    fn get(&self, _: &()) -> T {
        match self.0.try_pull() {
            Some(r) => r.detach().1,
            None => (self.1)(),
        }
    }
    #[inline]
    fn try_get(&self, _: &()) -> Option<T> {
        self.0.try_pull().map(|r| r.detach().1)
    }
    #[inline]
    fn put(&self, _: &(), held: T) {
        self.0.attach(held)
    }
    fn discard(&self, held: T) {
        drop(held)
    }
    fn fresh(&self, _: &()) -> T {
        (self.1)()
    }
    #[inline]
    fn touch(held: &mut T) {
        held.touch()
    }
}

// ---------------------------------------------------- lockfree-object-pool

/// `lockfree_object_pool::LinearObjectPool` (its lock-free flavour): guards
/// only, no Get without New and no way to take an item out, so the
/// Starvation shapes do not apply to it.
pub struct LinearPool<T>(lockfree_object_pool::LinearObjectPool<T>);

impl<T: Item> Peer<T> for LinearPool<T> {
    const NAME: &'static str = "lockfree-object-pool Linear";
    const HAS_TRY_GET: bool = false;
    const CAN_DISCARD: bool = false;
    type Cx<'a> = ();
    type Held<'a> = lockfree_object_pool::LinearReusable<'a, T>;
    fn build(new_fn: NewFn<T>) -> Self {
        Self(lockfree_object_pool::LinearObjectPool::new(
            move || new_fn(),
            |_| {},
        ))
    }
    fn cx(&self) {}
    #[inline]
    fn get(&self, _: &()) -> Self::Held<'_> {
        self.0.pull()
    }
    fn try_get(&self, _: &()) -> Option<Self::Held<'_>> {
        None
    }
    #[inline]
    fn put<'a>(&'a self, _: &(), held: Self::Held<'a>) {
        drop(held)
    }
    fn discard<'a>(&'a self, held: Self::Held<'a>) {
        drop(held)
    }
    fn fresh(&self, _: &()) -> Self::Held<'_> {
        self.0.pull()
    }
    #[inline]
    fn touch(held: &mut Self::Held<'_>) {
        T::touch(held)
    }
}

// ------------------------------------------------------------------- opool

/// New for `opool`.
pub struct OpoolNew<T>(NewFn<T>);

impl<T> opool::PoolAllocator<T> for OpoolNew<T> {
    #[inline]
    fn allocate(&self) -> T {
        (self.0)()
    }
}

/// `opool::Pool` (a bounded `ArrayQueue` behind guards). Put is dropping the
/// guard; `into_inner` takes an item out; an item from outside cannot be
/// put in, so a starved thread refills with `get` (which may call New).
pub struct Opool<T>(opool::Pool<OpoolNew<T>, T>);

impl<T: Item> Peer<T> for Opool<T> {
    const NAME: &'static str = "opool";
    const HAS_TRY_GET: bool = true;
    const CAN_DISCARD: bool = true;
    type Cx<'a> = ();
    type Held<'a> = opool::RefGuard<'a, OpoolNew<T>, T>;
    fn build(new_fn: NewFn<T>) -> Self {
        Self(opool::Pool::new(BOUNDED_CAP, OpoolNew(new_fn)))
    }
    fn cx(&self) {}
    #[inline]
    fn get(&self, _: &()) -> Self::Held<'_> {
        self.0.get()
    }
    #[inline]
    fn try_get(&self, _: &()) -> Option<Self::Held<'_>> {
        self.0.try_get()
    }
    #[inline]
    fn put<'a>(&'a self, _: &(), held: Self::Held<'a>) {
        drop(held)
    }
    fn discard<'a>(&'a self, held: Self::Held<'a>) {
        drop(held.into_inner())
    }
    fn fresh(&self, _: &()) -> Self::Held<'_> {
        self.0.get()
    }
    #[inline]
    fn touch(held: &mut Self::Held<'_>) {
        T::touch(held)
    }
}

// ------------------------------------------------------------ thread team

/// Go's RunParallel for criterion's `iter_custom`: `threads` persistent
/// workers share `iters` iterations, taken from a common counter in small
/// batches (so an oversubscribed, descheduled thread does not hold the
/// others up), and the wall time of the whole batch is returned.
pub struct Team {
    ctl: Arc<Control>,
    threads: usize,
}

struct Control {
    start: Barrier,
    done: Barrier,
    iters: AtomicU64,
    next: AtomicU64,
    grain: AtomicU64,
    stop: AtomicBool,
}

impl Team {
    /// Starts `threads` workers in `scope`. Each makes its state with
    /// `init` on its own thread, then runs `step(&mut state)` once per
    /// iteration it takes.
    pub fn start<'scope, 'env, S, I, F>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        threads: usize,
        init: I,
        step: F,
    ) -> Self
    where
        I: Fn() -> S + Send + Sync + 'scope,
        F: Fn(&mut S) + Send + Sync + 'scope,
    {
        let ctl = Arc::new(Control {
            start: Barrier::new(threads + 1),
            done: Barrier::new(threads + 1),
            iters: AtomicU64::new(0),
            next: AtomicU64::new(0),
            grain: AtomicU64::new(1),
            stop: AtomicBool::new(false),
        });
        let init = Arc::new(init);
        let step = Arc::new(step);
        for _ in 0..threads {
            let ctl = ctl.clone();
            let init = init.clone();
            let step = step.clone();
            scope.spawn(move || {
                let mut state = init();
                loop {
                    ctl.start.wait();
                    if ctl.stop.load(Ordering::Acquire) {
                        break;
                    }
                    let iters = ctl.iters.load(Ordering::Relaxed);
                    let grain = ctl.grain.load(Ordering::Relaxed);
                    loop {
                        let first = ctl.next.fetch_add(grain, Ordering::Relaxed);
                        if first >= iters {
                            break;
                        }
                        for _ in first..(first + grain).min(iters) {
                            step(&mut state);
                        }
                    }
                    ctl.done.wait();
                }
                drop(state);
                ctl.done.wait();
            });
        }
        Self { ctl, threads }
    }

    /// Runs `iters` iterations across the team; returns the wall time.
    pub fn run(&self, iters: u64) -> Duration {
        let grain = (iters / (self.threads as u64 * 16)).clamp(1, 1000);
        self.ctl.iters.store(iters, Ordering::Relaxed);
        self.ctl.grain.store(grain, Ordering::Relaxed);
        self.ctl.next.store(0, Ordering::Relaxed);
        let t0 = Instant::now();
        self.ctl.start.wait();
        self.ctl.done.wait();
        t0.elapsed()
    }

    /// Stops the workers (their states are dropped on their threads).
    pub fn stop(self) {
        self.ctl.stop.store(true, Ordering::Release);
        self.ctl.start.wait();
        self.ctl.done.wait();
    }
}
