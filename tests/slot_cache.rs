//! The per-thread slot cache (DESIGN.md §5.2): a Get or
//! Put that finds its slot there must reach exactly the slot the thread id
//! would, so an entry may outlive neither the thread's id nor its pool.

use std::sync::mpsc;
use std::thread;

use victim_pool::{release_thread_slot, Pool};

mod common;

fn pool() -> Pool<Box<u64>> {
    Pool::builder().manual_cleanup().build()
}

#[test]
fn a_released_slot_is_not_reached_through_the_cache() {
    let pool = pool();
    pool.put(Box::new(7)); // caches this thread's slot
    let released = pool.local().slot();
    release_thread_slot();
    thread::scope(|scope| {
        // Threads that lease ids (smallest free first) until one holds the
        // released id, each keeping its id until the end of the test.
        let mut ends = Vec::new();
        let holder = loop {
            assert!(ends.len() < 256, "no thread got the released id back");
            let (slot_tx, slot_rx) = mpsc::channel();
            let (end_tx, end_rx) = mpsc::channel::<()>();
            let pool = &pool;
            let thread = scope.spawn(move || {
                let local = pool.local();
                slot_tx.send(local.slot()).unwrap();
                let _ = end_rx.recv();
                local.try_get()
            });
            ends.push(end_tx);
            if slot_rx.recv().unwrap() == released {
                break thread;
            }
        };
        // This thread's next Get leases a new id: the released slot, and
        // the item in it, are the holder's now.
        assert_eq!(pool.try_get(), None, "a Get reached the released slot");
        drop(ends);
        assert_eq!(holder.join().unwrap(), Some(Box::new(7)));
    });
}

#[test]
fn a_new_id_does_not_reach_the_old_ids_slots() {
    thread::spawn(|| {
        let pool = pool();
        let old = pool.local(); // keeps the id leased past the release
        pool.put(Box::new(7)); // caches the slot of `old`'s id
        release_thread_slot();
        // The handle still holds the old id, so this leases a new one.
        let new = pool.local();
        assert_ne!(new.slot(), old.slot());
        assert_eq!(pool.try_get(), None, "a Get reached the old id's slot");
        assert_eq!(old.try_get(), Some(Box::new(7)));
    })
    .join()
    .unwrap();
}

#[test]
fn a_pool_built_where_a_dropped_one_was_has_its_own_slots() {
    thread::spawn(|| {
        for round in 0..64 {
            let dropped = pool();
            dropped.put(Box::new(round)); // caches its slot
            drop(dropped);
            // Often at the dropped pool's addresses (the allocator reuses
            // the blocks just freed).
            let mut pool = pool();
            assert_eq!(
                pool.try_get(),
                None,
                "round {round}: an item of the dropped pool"
            );
            pool.put(Box::new(round + 100));
            let snapshot = pool.snapshot();
            assert_eq!(snapshot.slots.len(), 1, "round {round}: {snapshot:?}");
            assert_eq!(snapshot.slots[0].private, Some(Box::new(round + 100)));
        }
    })
    .join()
    .unwrap();
}

#[cfg(all(target_os = "linux", not(miri)))]
#[test]
fn a_forked_child_goes_on_with_the_forking_threads_cached_slots() {
    thread::spawn(|| {
        let pool = pool();
        pool.put(Box::new(7)); // cached before the fork
        let slot = pool.local().slot();
        let child_ok = common::exited_ok(common::fork_and_check(|| {
            // The forking thread keeps its id in the child, so its cached
            // slot is still its own: the item it put before the fork, and
            // a cleanup in the child that sees the slot as a live thread's.
            let mut ok = pool.local().slot() == slot && pool.try_get() == Some(Box::new(7));
            pool.put(Box::new(8));
            pool.cleanup();
            ok &= pool.try_get() == Some(Box::new(8));
            ok && pool.stats().victim_hits == 1
        }));
        assert!(child_ok, "the child lost the forking thread's slot");
        assert_eq!(pool.try_get(), Some(Box::new(7)));
    })
    .join()
    .unwrap();
}
