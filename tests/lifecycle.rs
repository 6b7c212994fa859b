//! Thread identity over a pool's life: slot reuse after thread exit, use
//! from thread-local destructors, and `cleanup_all`. The tests share
//! process-wide state (the id allocator, the pool registry), so they run
//! one at a time.

mod common;

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use common::DropLedger;
use victim_pool::{cleanup_all, Pool};

/// Runs the tests one at a time. On drop it first returns the test
/// thread's own slot id (if it leased one), so the next test sees the same
/// free ids whatever order the harness threads exit in.
struct Serial(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Drop for Serial {
    fn drop(&mut self) {
        victim_pool::release_thread_slot();
    }
}

fn serial() -> Serial {
    static LOCK: Mutex<()> = Mutex::new(());
    Serial(LOCK.lock().unwrap_or_else(|e| e.into_inner()))
}

fn slot_of_new_thread() -> usize {
    let pool: Pool<u8> = Pool::builder().manual_cleanup().build();
    thread::spawn(move || pool.local().slot()).join().unwrap()
}

#[test]
fn an_exited_threads_slot_and_private_item_go_to_the_next_thread() {
    let _serial = serial();
    let pool = Arc::new(Pool::builder().manual_cleanup().new_fn(|| 0usize).build());
    let first = {
        let pool = pool.clone();
        thread::spawn(move || {
            pool.put(42); // private of this thread's slot
            pool.put(43); // shared: stealable after we exit
            pool.local().slot()
        })
        .join()
        .unwrap()
    };
    // Another thread can steal the shared item meanwhile.
    let stolen = {
        let pool = pool.clone();
        thread::spawn(move || (pool.local().slot(), pool.try_get()))
            .join()
            .unwrap()
    };
    assert_eq!(stolen.0, first, "the smallest free id is reused");
    assert_eq!(
        stolen.1,
        Some(42),
        "the reusing thread inherits the private item"
    );
    let next = {
        let pool = pool.clone();
        thread::spawn(move || pool.try_get()).join().unwrap()
    };
    assert_eq!(next, Some(43));
}

#[test]
fn slots_stay_bounded_by_live_threads() {
    let _serial = serial();
    let pool = Arc::new(Pool::builder().manual_cleanup().new_fn(|| 0u32).build());
    // 10,000 threads over the pool's life, at most 64 alive at once.
    let (total, alive) = if cfg!(miri) { (40, 4) } else { (10_000, 64) };
    let mut slots = std::collections::BTreeSet::new();
    for round in 0..total / alive {
        let handles: Vec<_> = (0..alive)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || {
                    pool.put(round as u32);
                    let _ = pool.get();
                    pool.local().slot()
                })
            })
            .collect();
        slots.extend(handles.into_iter().map(|h| h.join().unwrap()));
    }
    // Ids are reused smallest-first, so the slots used stay within the
    // threads alive at once (+ this thread and slack for other tests'
    // finished threads whose ids are not yet returned).
    let most = alive + 2;
    assert!(slots.len() <= most, "{} slots used", slots.len());
    assert!(
        slots.iter().all(|&slot| slot < most),
        "ids stay dense: {slots:?}"
    );
    assert!(pool.stats().slots < 2 * most, "{:?}", pool.stats());
}

struct PutOnExit {
    pool: Arc<Pool<common::Counted>>,
    ledger: DropLedger,
    first_id: usize,
}

impl Drop for PutOnExit {
    fn drop(&mut self) {
        // Runs during thread-local teardown, possibly after this thread's
        // id lease is gone: must neither panic, lose an item, nor share a
        // slot.
        self.pool.put(self.ledger.item(self.first_id + 1));
        drop(self.pool.try_get());
        self.pool.put(self.ledger.item(self.first_id + 2));
    }
}

thread_local! {
    static AT_EXIT: RefCell<Option<PutOnExit>> = const { RefCell::new(None) };
}

#[test]
fn put_and_get_work_from_thread_local_destructors() {
    let _serial = serial();
    let threads = 8;
    let ledger = DropLedger::new(3 * threads);
    let pool: Arc<Pool<common::Counted>> = Arc::new(Pool::builder().manual_cleanup().build());
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (pool, ledger) = (pool.clone(), ledger.clone());
            thread::spawn(move || {
                // Use the pool first so the lease exists, then register a
                // destructor that uses it again at exit.
                pool.put(ledger.item(3 * i));
                AT_EXIT.with(|slot| {
                    *slot.borrow_mut() = Some(PutOnExit {
                        pool,
                        ledger,
                        first_id: 3 * i,
                    })
                });
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let Ok(pool) = Arc::try_unwrap(pool) else {
        panic!("every thread is gone, so this is the last handle");
    };
    drop(pool);
    ledger.assert_each_dropped_once();
}

#[test]
fn cleanup_all_cleans_every_live_pool() {
    let _serial = serial();
    let ledger = DropLedger::new(4);
    let a: Pool<common::Counted> = Pool::builder().manual_cleanup().build();
    let b: Pool<common::Counted> = Pool::builder().manual_cleanup().build();
    a.put(ledger.item(0));
    b.put(ledger.item(1));
    b.put(ledger.item(2));
    {
        let dropped_pool: Pool<common::Counted> = Pool::builder().manual_cleanup().build();
        dropped_pool.put(ledger.item(3));
    }
    assert_eq!(ledger.drops(3), 1, "dropping a pool drops its items");
    cleanup_all();
    assert_eq!(ledger.total_drops(), 1);
    assert_eq!(a.try_get().map(|c| c.id), Some(0), "victim of a");
    cleanup_all();
    ledger.assert_each_dropped_once();
    assert!(b.try_get().is_none());
    assert_eq!(slot_of_new_thread(), slot_of_new_thread());
}

#[test]
fn sweeper_cleans_periodically() {
    let _serial = serial();
    let ledger = DropLedger::new(1);
    let pool: Pool<common::Counted> = Pool::builder().manual_cleanup().build();
    pool.put(ledger.item(0));
    let sweeper = victim_pool::Sweeper::spawn(std::time::Duration::from_millis(5));
    // A liveness check, not a timing one: wait (up to a generous bound)
    // for two sweeps to drop the item.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ledger.total_drops() == 0 && std::time::Instant::now() < deadline {
        thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(sweeper);
    ledger.assert_each_dropped_once();
}

#[test]
fn release_thread_slot_hands_the_slot_to_the_next_thread_early() {
    let _serial = serial();
    let pool = Arc::new(Pool::builder().manual_cleanup().new_fn(|| 0usize).build());
    let (first_slot, next_slot, inherited) = {
        let pool = pool.clone();
        thread::spawn(move || {
            pool.put(7);
            let first = pool.local().slot();
            victim_pool::release_thread_slot();
            // While this thread is still alive, a new thread takes the slot
            // over and inherits its private item.
            let pool2 = pool.clone();
            let (next, inherited) = thread::spawn(move || (pool2.local().slot(), pool2.try_get()))
                .join()
                .unwrap();
            // Using the pool again leases an id afresh: the smallest free
            // one, which is ours again now that the other thread is gone.
            pool.put(8);
            assert_eq!(pool.local().slot(), first);
            assert_eq!(pool.try_get(), Some(8));
            (first, next, inherited)
        })
        .join()
        .unwrap()
    };
    assert_eq!(next_slot, first_slot);
    assert_eq!(inherited, Some(7));
}
