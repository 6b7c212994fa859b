//! Test-only fault injection (cargo feature `fault-injection`): make the
//! kernel refuse the heavy fence, or a chain allocation panic, at a chosen
//! call, so tests can show that no fault is ever turned into a
//! use-after-free, a lost item or a stuck slot.
//!
//! The faults are process-wide (every pool, every thread). Tests that arm
//! them should run in their own test binary, one at a time. When nothing is
//! armed, each injection point costs one Relaxed load on a cold path
//! (cleanup's heavy fence, a chain or segment allocation), never on a Get or
//! Put that hits the calling thread's private slot.

use std::sync::atomic::{AtomicU64, Ordering};

/// A fault that can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The heavy fence of a cleanup fails, as if `membarrier` returned an
    /// error (ENOMEM, or EPERM under a seccomp filter installed after
    /// start-up). Injected whatever the fence backend is, so the failure
    /// path runs under Miri and the sanitizers too.
    HeavyFence,
    /// Allocating a chain or one of its segments panics (as a failing
    /// allocator that panics would).
    ChainAllocation,
}

/// Per fault: calls to let through before failing, and failures left.
struct Plan {
    skip: AtomicU64,
    fail: AtomicU64,
    injected: AtomicU64,
}

impl Plan {
    const fn new() -> Self {
        Self {
            skip: AtomicU64::new(0),
            fail: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        }
    }
}

static PLANS: [Plan; 2] = [Plan::new(), Plan::new()];

fn plan(fault: Fault) -> &'static Plan {
    &PLANS[match fault {
        Fault::HeavyFence => 0,
        Fault::ChainAllocation => 1,
    }]
}

/// Arms `fault`: the next `after` occurrences succeed, the `times` after
/// them fail (`u64::MAX`: every one from then on).
pub fn inject(fault: Fault, after: u64, times: u64) {
    let plan = plan(fault);
    plan.fail.store(0, Ordering::SeqCst);
    plan.skip.store(after, Ordering::SeqCst);
    plan.fail.store(times, Ordering::SeqCst);
}

/// Disarms every fault.
pub fn clear() {
    for plan in &PLANS {
        plan.fail.store(0, Ordering::SeqCst);
        plan.skip.store(0, Ordering::SeqCst);
    }
}

/// How many times `fault` has been injected since the process started.
pub fn injected(fault: Fault) -> u64 {
    plan(fault).injected.load(Ordering::SeqCst)
}

/// True while `fault` is armed (has failures left).
pub fn armed(fault: Fault) -> bool {
    plan(fault).fail.load(Ordering::Relaxed) != 0
}

/// True when this occurrence of `fault` must fail. Called by the facade.
pub(crate) fn should_fail(fault: Fault) -> bool {
    let plan = plan(fault);
    if plan.fail.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let take = |counter: &AtomicU64| {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    };
    if take(&plan.skip) {
        return false;
    }
    let failing = plan.fail.load(Ordering::SeqCst) == u64::MAX || take(&plan.fail);
    if failing {
        plan.injected.fetch_add(1, Ordering::SeqCst);
    }
    failing
}

/// Stall points: `stall_next_slow_get` makes the next Get that reaches the
/// slow path (its private slot empty) wait inside its operation, pinned,
/// until `release_stall`; lets a test hold a thread inside an operation
/// (for example across a `fork` or a cleanup).
static STALL: AtomicU64 = AtomicU64::new(0);
const STALL_ARMED: u64 = 1;
const STALL_WAITING: u64 = 2;

/// Arms the stall point (see [`stalled`]).
pub fn stall_next_slow_get() {
    STALL.store(STALL_ARMED, Ordering::SeqCst);
}

/// True while a thread waits at the stall point, inside its operation.
pub fn stalled() -> bool {
    STALL.load(Ordering::SeqCst) == STALL_WAITING
}

/// Lets the stalled thread go on (and disarms the stall point).
pub fn release_stall() {
    STALL.store(0, Ordering::SeqCst);
}

/// The stall point, inside Get's slow path. Called by the core.
pub(crate) fn stall_point() {
    if STALL.load(Ordering::Relaxed) == 0 {
        return;
    }
    if STALL
        .compare_exchange(
            STALL_ARMED,
            STALL_WAITING,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_ok()
    {
        while STALL.load(Ordering::SeqCst) == STALL_WAITING {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
