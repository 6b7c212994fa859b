//! Shared test helpers: a value type whose drops are counted per id, so a
//! test can prove every object was dropped exactly once.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// For `poolcheck explain` (verification/TOUR.md, the test lessons): when
/// `VICTIM_POOL_EXPLAIN` is set, prints the calling thread's stack in the
/// format of a panic report, headed `calls user code: {what}`, so that the
/// lesson draws the calls that led to user code (or to a failed check)
/// even when the test then ends without a panic there (a deadlock, a
/// forked child that exits). Prints nothing otherwise.
pub fn explain_call(what: &str) {
    if std::env::var_os("VICTIM_POOL_EXPLAIN").is_none() {
        return;
    }
    let thread = std::thread::current();
    eprintln!(
        "thread '{}' calls user code: {what}\nstack backtrace:\n{}",
        thread.name().unwrap_or("<unnamed>"),
        std::backtrace::Backtrace::force_capture()
    );
}

/// Scales an iteration count down under Miri, which runs ~1000x slower.
pub fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        (n / 200).max(4)
    } else {
        n
    }
}

/// Counts drops per id.
#[derive(Clone)]
pub struct DropLedger {
    drops: Arc<Vec<AtomicUsize>>,
}

impl DropLedger {
    pub fn new(ids: usize) -> Self {
        Self {
            drops: Arc::new((0..ids).map(|_| AtomicUsize::new(0)).collect()),
        }
    }

    pub fn item(&self, id: usize) -> Counted {
        Counted {
            id,
            ledger: self.clone(),
        }
    }

    pub fn drops(&self, id: usize) -> usize {
        self.drops[id].load(Ordering::SeqCst)
    }

    pub fn total_drops(&self) -> usize {
        self.drops.iter().map(|d| d.load(Ordering::SeqCst)).sum()
    }

    /// Panics unless every id was dropped exactly once.
    pub fn assert_each_dropped_once(&self) {
        for (id, d) in self.drops.iter().enumerate() {
            assert_eq!(
                d.load(Ordering::SeqCst),
                1,
                "item {id} dropped wrong number of times"
            );
        }
    }
}

/// A value whose drop is recorded in its ledger.
pub struct Counted {
    pub id: usize,
    ledger: DropLedger,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let previous = self.ledger.drops[self.id].fetch_add(1, Ordering::SeqCst);
        assert_eq!(previous, 0, "item {} dropped twice", self.id);
    }
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counted({})", self.id)
    }
}

/// The single producer of an SPMC structure under test.
pub trait SpmcProducer {
    /// Pushes `item`, waiting (yielding) while the structure is full.
    fn push(&mut self, item: Counted);
    /// Pops the newest item.
    fn pop_head(&mut self) -> Option<Counted>;
}

/// Go's TestPoolDequeue / TestPoolChain shape: one producer pushes `values`
/// items (taking one back from the head every 10th push) while `consumers`
/// threads pop the tail; every item must be seen exactly once and dropped
/// exactly once.
pub fn each_value_seen_once<P, S>(mut producer: P, stealer: S, pop_tail: fn(&S) -> Option<Counted>)
where
    P: SpmcProducer,
    S: Clone + Send,
{
    let consumers = if cfg!(miri) { 2 } else { 9 };
    let values = scaled(100_000);
    let ledger = DropLedger::new(values);
    let done = std::sync::atomic::AtomicBool::new(false);
    let seen = std::sync::Mutex::new(vec![0u8; values]);
    std::thread::scope(|s| {
        for _ in 0..consumers {
            let stealer = stealer.clone();
            let (done, seen) = (&done, &seen);
            s.spawn(move || loop {
                let finished = done.load(Ordering::Acquire);
                match pop_tail(&stealer) {
                    Some(item) => seen.lock().unwrap()[item.id] += 1,
                    None if finished => return,
                    None => std::thread::yield_now(),
                }
            });
        }
        for id in 0..values {
            if id % 10 == 0 {
                if let Some(item) = producer.pop_head() {
                    seen.lock().unwrap()[item.id] += 1;
                }
            }
            producer.push(ledger.item(id));
        }
        done.store(true, Ordering::Release);
    });
    while let Some(item) = producer.pop_head() {
        seen.lock().unwrap()[item.id] += 1;
    }
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.iter().all(|&n| n == 1),
        "some value seen 0 or 2+ times"
    );
    ledger.assert_each_dropped_once();
}

/// `fork(2)` helpers for the tests that fork.
#[cfg(all(target_os = "linux", not(miri)))]
mod forking {
    /// Forks; the child runs `child` (exit status 0 if it returns true, 1 if
    /// false, 2 if it panics, killed by SIGALRM if it hangs for 20 s) and never
    /// returns. The parent gets the child's wait status.
    pub fn fork_and_check(child: impl FnOnce() -> bool) -> i32 {
        fork_with_alarm(20, child)
    }

    /// [`fork_and_check`] with the child's time limit in seconds.
    pub fn fork_with_alarm(seconds: u32, child: impl FnOnce() -> bool) -> i32 {
        // SAFETY: `fork` has no memory-safety preconditions; the child only
        // runs `child` and leaves with `_exit`, never returning into the test
        // harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: `alarm` and `_exit` are async-signal-safe and touch no
            // memory of ours.
            unsafe { libc::alarm(seconds) };
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)) {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(_) => 2,
            };
            // SAFETY: as above.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid);
        status
    }

    pub fn exited_ok(status: i32) -> bool {
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}

#[cfg(all(target_os = "linux", not(miri)))]
#[allow(unused_imports, reason = "each test binary uses some of them")]
pub use forking::{exited_ok, fork_and_check, fork_with_alarm};
