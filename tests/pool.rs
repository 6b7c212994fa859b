//! Pool: Go's test ideas (Get order, New, victim survival and release),
//! the Rust additions (guard, builder, handles), and multi-threaded
//! accounting with concurrent cleanups.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::{scaled, Counted, DropLedger};
use victim_pool::{Pool, MAX_SIMULATED_SLOT};

fn ids(values: impl IntoIterator<Item = Option<Counted>>) -> Vec<Option<usize>> {
    values.into_iter().map(|v| v.map(|c| c.id)).collect()
}

/// Go's TestPool, with slots driven explicitly: the exact Get order.
#[test]
fn get_order_is_gos() {
    let ledger = DropLedger::new(11);
    let mut pool: Pool<Counted> = Pool::builder().manual_cleanup().build();
    for (slot, id) in [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 3),
        (1, 4),
        (1, 5),
        (2, 6),
        (2, 7),
    ] {
        pool.as_slot(slot).put(ledger.item(id));
    }
    // Slot 0: private 0; shared [1, 2]. Slot 1: private 3; shared [4, 5].
    // Slot 2: private 6; shared [7].
    let got: Vec<_> = (0..7).map(|_| pool.as_slot(0).try_get()).collect();
    assert_eq!(
        ids(got),
        [Some(0), Some(2), Some(1), Some(4), Some(5), Some(7), None],
        "own private, own shared head-first, then others' tails from slot+1"
    );
    // Steals start after the caller's slot and wrap: slot 2 steals from
    // slot 0 before slot 1.
    pool.as_slot(0).put(ledger.item(8)); // private
    pool.as_slot(0).put(ledger.item(9)); // shared
    pool.as_slot(1).put(ledger.item(10)); // shared (private holds 3)
    drop(pool.as_slot(2).try_get()); // own private 6
    assert_eq!(pool.as_slot(2).try_get().map(|c| c.id), Some(9));
    assert_eq!(pool.as_slot(2).try_get().map(|c| c.id), Some(10));
}

#[test]
fn victim_order_is_own_private_then_shared_tails_from_own_slot() {
    let mut pool = Pool::builder()
        .manual_cleanup()
        .new_fn(|| usize::MAX)
        .build();
    pool.as_slot(0).put(0); // private
    pool.as_slot(0).put(1); // shared
    pool.as_slot(1).put(10); // private
    pool.as_slot(1).put(11); // shared
    pool.as_slot(1).put(12); // shared
    pool.cleanup();
    let got: Vec<usize> = (0..5).map(|_| pool.as_slot(1).get()).collect();
    // Victim: own private (10), then shared tails from slot 1: 11, 12, then
    // slot 0: 1. Slot 0's private is only its own ...
    assert_eq!(got, [10, 11, 12, 1, usize::MAX]);
    // ... but the miss marked the victim empty (Go's `victimSize = 0`):
    // until the next cleanup no Get looks there, not even slot 0.
    assert_eq!(pool.as_slot(0).get(), usize::MAX);
}

#[test]
fn the_victim_is_searched_again_after_the_next_cleanup() {
    let mut pool = Pool::builder().manual_cleanup().build();
    pool.as_slot(0).put(0); // private
    pool.cleanup();
    // Slot 1 finds the victim empty (slot 0's private is not its own):
    // later Gets skip the victim.
    assert_eq!(pool.as_slot(1).try_get(), None);
    assert_eq!(pool.as_slot(0).try_get(), None);
    pool.as_slot(0).put(1);
    pool.cleanup(); // drops 0; 1 becomes the victim, searched again
    assert_eq!(pool.as_slot(0).try_get(), Some(1));
}

/// Go's TestPoolNew.
#[test]
fn new_is_called_on_a_miss_only() {
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    let pool = Pool::builder()
        .manual_cleanup()
        .new_fn(move || counter.fetch_add(1, Ordering::SeqCst) + 100)
        .build();
    assert_eq!(pool.get(), 100);
    assert_eq!(pool.get(), 101);
    pool.put(7);
    assert_eq!(pool.get(), 7);
    assert_eq!(pool.get(), 102);
    assert_eq!(made.load(Ordering::SeqCst), 3);
    assert_eq!(pool.try_get(), None, "try_get never calls New");
    assert_eq!(made.load(Ordering::SeqCst), 3);
}

/// Go's TestPoolGC / TestPoolRelease: an object survives one cleanup and
/// is dropped by the second.
#[test]
fn survives_one_cleanup_and_is_dropped_by_the_second() {
    let ledger = DropLedger::new(100);
    let pool: Pool<Counted> = Pool::builder().manual_cleanup().build();
    for id in 0..100 {
        pool.put(ledger.item(id));
    }
    pool.cleanup();
    assert_eq!(
        ledger.total_drops(),
        0,
        "the first cleanup keeps everything in the victim"
    );
    let first = pool.try_get().expect("reachable through the victim");
    pool.cleanup();
    assert_eq!(
        ledger.total_drops(),
        99,
        "the second cleanup drops the rest"
    );
    assert!(pool.try_get().is_none());
    drop(first);
    ledger.assert_each_dropped_once();
}

#[test]
fn cleanup_releases_items_of_idle_and_exited_threads() {
    let ledger = DropLedger::new(60);
    let pool: Pool<Counted> = Pool::builder().manual_cleanup().build();
    // One thread puts and exits; another puts and stays alive but idle.
    thread::scope(|s| {
        s.spawn(|| (0..20).for_each(|id| pool.put(ledger.item(id))));
    });
    let (parked_tx, parked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let drops_after_each_cleanup = thread::scope(|s| {
        let (pool, ledger) = (&pool, &ledger);
        s.spawn(move || {
            (20..40).for_each(|id| pool.put(ledger.item(id)));
            parked_tx.send(()).unwrap();
            // Idle (alive, not using the pool) until released.
            let _ = release_rx.recv();
        });
        parked_rx.recv().unwrap();
        (40..60).for_each(|id| pool.put(ledger.item(id)));
        pool.cleanup();
        let first = ledger.total_drops();
        pool.cleanup();
        let second = ledger.total_drops();
        release_tx.send(()).unwrap();
        (first, second)
    });
    assert_eq!(
        drops_after_each_cleanup,
        (0, 60),
        "private and shared of every slot, idle or not"
    );
    ledger.assert_each_dropped_once();
}

#[test]
fn dropping_the_pool_drops_everything_once() {
    let ledger = DropLedger::new(300);
    let pool: Pool<Counted> = Pool::builder().manual_cleanup().build();
    thread::scope(|s| {
        for t in 0..3 {
            let (pool, ledger) = (&pool, &ledger);
            s.spawn(move || (t * 100..t * 100 + 100).for_each(|id| pool.put(ledger.item(id))));
        }
    });
    pool.cleanup(); // some in the victim ...
    pool.put(pool.try_get().unwrap()); // ... one back in a primary
    drop(pool);
    ledger.assert_each_dropped_once();
}

#[test]
fn guard_puts_back_on_drop_and_into_inner_keeps() {
    let pool = Pool::builder()
        .manual_cleanup()
        .new_fn(|| vec![0u8; 16])
        .build();
    {
        let mut buf = pool.get_guard();
        buf[0] = 7;
    }
    assert_eq!(pool.try_get().map(|b| b[0]), Some(7));
    let kept = pool.get_guard().into_inner();
    assert_eq!(kept.len(), 16);
    assert_eq!(pool.try_get(), None, "into_inner did not put back");
}

#[test]
fn reset_hook_runs_on_put() {
    let pool = Pool::builder()
        .manual_cleanup()
        .new_fn(Vec::<u8>::new)
        .reset(|v: &mut Vec<u8>| v.clear())
        .build();
    pool.put(vec![1, 2, 3]);
    let v = pool.get();
    assert!(v.is_empty());
    assert_eq!(v.capacity(), 3, "the same allocation, cleared");
}

#[test]
fn per_thread_bound_drops_the_excess() {
    let ledger = DropLedger::new(10);
    let mut pool: Pool<Counted> = Pool::builder().manual_cleanup().max_per_thread(3).build();
    for id in 0..5 {
        pool.as_slot(0).put(ledger.item(id));
    }
    assert_eq!(ledger.total_drops(), 2, "items 3 and 4 are over the bound");
    assert_eq!(ledger.drops(3) + ledger.drops(4), 2);
    // Each slot has its own bound.
    for id in 5..8 {
        pool.as_slot(1).put(ledger.item(id));
    }
    assert_eq!(ledger.total_drops(), 2);
    // Taking one out makes room again.
    let taken = pool.as_slot(0).try_get().unwrap();
    pool.as_slot(0).put(ledger.item(8));
    assert_eq!(ledger.total_drops(), 2);
    pool.as_slot(0).put(ledger.item(9));
    assert_eq!(ledger.drops(9), 1);
    drop((taken, pool));
    ledger.assert_each_dropped_once();
}

#[test]
fn bound_zero_pools_nothing() {
    let pool = Pool::builder()
        .manual_cleanup()
        .new_fn(|| 0)
        .max_per_thread(0)
        .build();
    pool.put(5);
    assert_eq!(pool.try_get(), None);
}

#[test]
fn local_handle_shares_the_threads_slot() {
    let pool = Pool::builder().manual_cleanup().new_fn(|| 0).build();
    let local = pool.local();
    local.put(1);
    assert_eq!(pool.get(), 1, "same slot as the thread's own operations");
    pool.put(2);
    assert_eq!(local.get(), 2);
    assert_eq!(local.get(), 0, "New through the handle");
}

#[test]
fn get_without_new_panics_clearly_and_leaves_the_pool_usable() {
    let pool: Pool<u8> = Pool::builder().manual_cleanup().build();
    let err = catch_unwind(AssertUnwindSafe(|| pool.get())).unwrap_err();
    let message = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("without new_fn"), "{message}");
    pool.put(1);
    assert_eq!(pool.try_get(), Some(1));
}

#[test]
#[should_panic(expected = "MAX_SIMULATED_SLOT")]
fn as_slot_rejects_huge_slots() {
    let mut pool: Pool<u8> = Pool::builder().manual_cleanup().build();
    drop(pool.as_slot(MAX_SIMULATED_SLOT + 1));
}

#[test]
fn pool_is_send_and_sync_for_send_items() {
    fn both<T: Send + Sync>() {}
    both::<Pool<Vec<u8>>>();
    both::<Pool<std::sync::Mutex<u8>>>();
}

/// Many threads Put/Get while another cleans: no item is handed to two
/// threads at once, and every item is dropped exactly once in the end.
#[test]
fn concurrent_put_get_cleanup_accounting() {
    let threads = if cfg!(miri) { 3 } else { 8 };
    let per_thread = scaled(20_000);
    let items = threads * per_thread;
    let ledger = DropLedger::new(items);
    let in_use: Vec<std::sync::atomic::AtomicBool> =
        (0..items).map(|_| Default::default()).collect();
    let pool: Pool<Counted> = Pool::builder().manual_cleanup().build();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let got = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                pool.cleanup();
                thread::yield_now();
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (pool, ledger, in_use, got) = (&pool, &ledger, &in_use, &got);
                s.spawn(move || {
                    for i in 0..per_thread {
                        pool.put(ledger.item(t * per_thread + i));
                        for _ in 0..(i % 3) {
                            if let Some(item) = pool.try_get() {
                                assert!(
                                    !in_use[item.id].swap(true, Ordering::SeqCst),
                                    "item {} handed out twice",
                                    item.id
                                );
                                got.fetch_add(1, Ordering::Relaxed);
                                in_use[item.id].store(false, Ordering::SeqCst);
                                if i % 2 == 0 {
                                    pool.put(item);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(got.load(Ordering::Relaxed) > 0);
    drop(pool);
    ledger.assert_each_dropped_once();
}

/// Put/Get from many threads with a sweeper-like cleaner never loses an
/// item that was never cleaned: with no cleanup, everything put is got.
#[test]
fn without_cleanup_every_item_put_is_found_again() {
    let threads = if cfg!(miri) { 2 } else { 4 };
    let per_thread = scaled(10_000);
    let pool: Pool<usize> = Pool::builder().manual_cleanup().build();
    let found = Mutex::new(Vec::new());
    thread::scope(|s| {
        for t in 0..threads {
            let pool = &pool;
            s.spawn(move || {
                (0..per_thread).for_each(|i| pool.put(t * per_thread + i));
            });
        }
    });
    // One thread drains everything: its own slot, then steals from all.
    while let Some(v) = pool.try_get() {
        found.lock().unwrap().push(v);
    }
    let mut found = found.into_inner().unwrap();
    found.sort_unstable();
    // Private items of other (exited) slots are only reachable by their
    // slot's owner, as in Go; everything else must come back.
    assert!(found.len() >= threads * per_thread - threads);
    let before = found.len();
    found.dedup();
    assert_eq!(found.len(), before, "an item was returned twice");
}

#[test]
fn stats_count_every_path() {
    let mut pool = Pool::builder()
        .manual_cleanup()
        .new_fn(|| 0u32)
        .max_per_thread(3)
        .build();
    pool.as_slot(0).put(1); // private
    pool.as_slot(0).put(2); // shared
    pool.as_slot(1).put(3); // private
    pool.as_slot(1).put(4); // shared
    assert_eq!(pool.as_slot(0).get(), 1, "private hit");
    assert_eq!(pool.as_slot(0).get(), 2, "shared hit");
    assert_eq!(pool.as_slot(0).get(), 4, "steal hit");
    pool.cleanup();
    assert_eq!(pool.as_slot(1).get(), 3, "victim hit");
    assert_eq!(pool.as_slot(1).get(), 0, "miss, then New");
    assert_eq!(pool.as_slot(0).try_get(), None, "miss without New");
    for v in 10..15 {
        pool.as_slot(2).put(v); // three kept, two over the bound
    }
    pool.cleanup();
    pool.cleanup();
    let stats = pool.stats();
    let expected = (1, 1, 1, 1, 2, 1, 9, 2, 0, 3, 3);
    let actual = (
        stats.private_hits,
        stats.shared_hits,
        stats.steal_hits,
        stats.victim_hits,
        stats.misses,
        stats.new_calls,
        stats.puts,
        stats.bound_drops,
        stats.chaos_drops,
        stats.cleanup_drops,
        stats.cleanups,
    );
    assert_eq!(actual, expected, "{stats:?}");
    assert_eq!(stats.gets(), 6);
    assert!(stats.slots >= 3);
}

#[test]
fn cleanup_detached_hands_back_the_old_victim() {
    let ledger = DropLedger::new(50);
    let pool: Pool<Counted> = Pool::builder().manual_cleanup().build();
    (0..50).for_each(|id| pool.put(ledger.item(id)));
    assert!(
        pool.cleanup_detached().is_empty(),
        "nothing in the victim yet"
    );
    let released = pool.cleanup_detached();
    assert_eq!(released.len(), 50);
    assert_eq!(
        ledger.total_drops(),
        0,
        "not dropped until the caller says so"
    );
    assert!(pool.try_get().is_none(), "but no longer reachable");
    thread::spawn(move || drop(released)).join().unwrap();
    ledger.assert_each_dropped_once();
    assert_eq!(pool.stats().cleanup_drops, 50);
}

#[test]
fn snapshot_shows_private_items_chains_and_ring_slots() {
    let mut pool = Pool::builder().manual_cleanup().new_fn(|| 0u32).build();
    for v in 1..=10 {
        pool.as_slot(1).put(v); // 1 private, 2..=10 into the chain: 8 + 1
    }
    pool.cleanup(); // all of it becomes the victim
    pool.as_slot(1).put(11);
    let snapshot = pool.snapshot();
    assert_eq!(snapshot.cleanups, 1);
    assert_eq!(snapshot.slots.len(), 1, "{snapshot:?}");
    let slot = &snapshot.slots[0];
    assert_eq!(
        (slot.slot, slot.private, slot.victim_private),
        (1, Some(11), Some(1))
    );
    assert!(slot.shared.is_empty(), "no primary chain since the cleanup");
    // Victim chain: a full first segment of 8, then a 16-slot one holding 10.
    let rings: Vec<(usize, u32, u32)> = slot
        .victim
        .iter()
        .map(|ring| (ring.slots.len(), ring.head, ring.tail))
        .collect();
    assert_eq!(rings, [(8, 8, 0), (16, 1, 0)]);
    assert_eq!(slot.victim[0].slots[0], Some(2));
    assert_eq!(slot.victim[1].slots[0], Some(10));
    assert_eq!(slot.victim[1].slots[1], None);
    // Taking a snapshot changes nothing.
    assert_eq!(pool.as_slot(1).get(), 11);
}

/// The identity of `PoolStats`: every Put is refused, dropped at the bound,
/// taken by a Get or a cleanup, or still held — and `held` is what the
/// pool really holds (the ledger's live items once the threads hold none).
#[test]
fn stats_add_up_to_what_the_pool_holds() {
    const THREADS: usize = 4;
    let rounds = scaled(2_000);
    let ledger = DropLedger::new(THREADS * rounds * 2);
    let pool: Pool<Counted> = Pool::builder()
        .keep_if(|item: &Counted| item.id % 7 != 0)
        .max_per_thread(3) // reached within the few rounds Miri runs
        .manual_cleanup()
        .build();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (pool, ledger) = (&pool, &ledger);
            s.spawn(move || {
                let mut held = Vec::new();
                for i in 0..rounds {
                    let id = (t * rounds + i) * 2;
                    pool.put(ledger.item(id));
                    pool.put(ledger.item(id + 1));
                    held.extend(pool.try_get());
                    if i % 3 == 0 {
                        held.clear(); // dropped by the test, not the pool
                    }
                    if t == 0 && i % 250 == 0 {
                        pool.cleanup();
                    }
                }
            });
        }
    });
    let stats = pool.stats();
    let created = THREADS * rounds * 2;
    let alive = created - ledger.total_drops();
    assert_eq!(stats.puts, created as u64, "{stats:?}");
    assert_eq!(stats.gets(), (THREADS * rounds) as u64, "{stats:?}");
    assert!(stats.refused > 0 && stats.bound_drops > 0, "{stats:?}");
    // puts = refused + bound_drops + chaos_drops + hits + cleanup_drops + held
    assert_eq!(stats.held(), alive as u64, "{stats:?}");
    assert_eq!(
        stats.pooled(),
        stats.hits() + stats.cleanup_drops + stats.held()
    );
    pool.cleanup();
    pool.cleanup();
    let stats = pool.stats();
    assert_eq!(stats.held(), 0, "{stats:?}");
    assert_eq!(ledger.total_drops(), created);
}
