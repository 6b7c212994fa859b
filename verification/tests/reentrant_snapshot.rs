//! User code inside `Pool::snapshot`: the items' `Clone` calls back into
//! the pool API. Its own test binary: on a core that deadlocks here, the
//! stuck thread holds the pool's cleanup lock, and every later
//! `cleanup_all` in the process would hang on it.
#![cfg(not(any(loom, shuttle)))]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;

use victim_pool::Pool;
use victim_pool_verification::ledger::{Ledger, Tracked};

/// An item whose `Clone` calls `cleanup_all` (which cleans this very pool)
/// and `release_thread_slot`: `Pool::snapshot` clones the items, so user
/// code runs inside it. It must neither deadlock (the cleanup lock held
/// around the clones) nor lose or double an item.
#[test]
fn clone_that_cleans_inside_snapshot() {
    #[derive(Debug)]
    struct Cloner(Tracked, Arc<std::sync::atomic::AtomicU64>);
    impl Clone for Cloner {
        fn clone(&self) -> Self {
            // Cloned while in the pool: it must be live.
            let _live = self.0.id();
            victim_pool::cleanup_all();
            victim_pool::release_thread_slot();
            let id = self.1.fetch_add(1, Ordering::Relaxed);
            let ledger = Ledger::new();
            // Clones live in their own ledger: only the pool's items are
            // counted below.
            Cloner(ledger.item(id), self.1.clone())
        }
    }
    let ledger = Ledger::new();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1_000));
    let (done, finished) = std::sync::mpsc::channel();
    {
        let (ledger, next) = (ledger.clone(), next.clone());
        thread::spawn(move || {
            let mut pool = Pool::<Cloner>::builder().build();
            for id in 0..3 {
                pool.put(Cloner(ledger.item(id), next.clone()));
            }
            pool.cleanup();
            pool.put(Cloner(ledger.item(3), next.clone()));
            let snapshot = pool.snapshot();
            drop(snapshot);
            drop(pool);
            done.send(()).unwrap();
        });
    }
    finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect(
            "Pool::snapshot did not return within 10 s: an item's Clone (user code) called \
             cleanup_all while snapshot held the pool's cleanup lock (deadlock)",
        );
    ledger.assert_each_dropped_once(0..4);
}
