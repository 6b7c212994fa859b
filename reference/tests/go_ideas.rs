//! The ideas of Go's `sync` pool tests (pool_test.go: Get order, New,
//! victim survival and release, stress, the dequeue and chain with one
//! producer and many consumers), written once against the shared traits and
//! run against both implementations.
//!
//! Nothing here calls `cleanup_all` (see `tests/serial.rs`).

#![cfg(not(any(loom, shuttle)))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use common::{Tracked, World};
use victim_pool_reference::api::{
    BoundedProducer, Guard, SlotPool, TailStealer, UnboundedProducer,
};
use victim_pool_reference::PoolBuilder;

fn builder() -> PoolBuilder<Tracked> {
    victim_pool_reference::Pool::builder()
}

fn ids(items: &[Tracked]) -> Vec<u64> {
    items.iter().map(|item| item.id).collect()
}

/// Go's TestPool, with explicit slots standing in for `procPin`: private
/// first, then the shared head; 100 items survive one cleanup and the second
/// releases them.
fn go_pool<P: SlotPool<Tracked>>() {
    let world = World::default();
    let mut pool = P::from_builder(builder());
    assert!(pool.try_get_as(0).is_none(), "expected empty");
    let (a, b) = (world.fresh(), world.fresh());
    pool.put_as(0, a);
    pool.put_as(0, b);
    let got: Vec<Tracked> = (0..2).filter_map(|_| pool.try_get_as(0)).collect();
    assert_eq!(ids(&got), [0, 1], "a (private), then b (shared)");
    assert!(pool.try_get_as(0).is_none());

    for _ in 0..100 {
        pool.put_as(0, world.fresh());
    }
    pool.cleanup();
    assert_eq!(world.dropped(), 0, "the victim keeps them alive");
    let c = pool.try_get_as(0).expect("an item from the victim");
    assert!((2..102).contains(&c.id));
    pool.cleanup();
    assert_eq!(world.dropped(), 99, "the second cleanup releases the rest");
    assert!(pool.try_get_as(0).is_none());
    drop((got, c));
    world.assert_each_dropped_once();
}

/// Go's TestPoolNew: New's values come out when the pool is empty, a put
/// value comes back before New is called again.
fn go_pool_new<P: SlotPool<u64>>() {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let pool = P::from_builder(
        victim_pool_reference::Pool::builder()
            .new_fn(move || counter.fetch_add(1, Ordering::Relaxed) + 1),
    );
    assert_eq!(pool.get(), 1);
    assert_eq!(pool.get(), 2);
    pool.put(42);
    assert_eq!(pool.get(), 42);
    assert_eq!(pool.get(), 3);
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

/// Every step of the Get order, from slot 1, with four slots and both
/// generations populated.
fn get_order<P: SlotPool<Tracked>>() {
    let world = World::default();
    let mut pool = P::from_builder(builder());
    let put = |pool: &mut P, slot: usize, n: usize| -> Vec<u64> {
        (0..n)
            .map(|_| {
                let item = world.fresh();
                let id = item.id;
                pool.put_as(slot, item);
                id
            })
            .collect()
    };
    // Victim generation: [private, shared oldest .. newest] per slot.
    let v1 = put(&mut pool, 1, 3);
    let v2 = put(&mut pool, 2, 2);
    let v0 = put(&mut pool, 0, 2);
    let v3 = put(&mut pool, 3, 1);
    pool.cleanup();
    // Primary generation.
    let p1 = put(&mut pool, 1, 3);
    let p3 = put(&mut pool, 3, 3);
    let p0 = put(&mut pool, 0, 2);

    let mut order = Vec::new();
    while let Some(item) = pool.try_get_as(1) {
        order.push(item);
    }
    let expected = [
        p1[0], // 1.  own private
        p1[2], // 2.  own shared, newest first
        p1[1], //     ...
        p3[1], // 3.  slot 2 has no shared items; slot 3's, oldest first
        p3[2], //     ...
        p0[1], //     then wrap round to slot 0
        v1[0], // 4a. own victim private
        v1[1], // 4b. victim shared from our own slot, oldest first
        v1[2], //     ...
        v2[1], //     slot 2 (slot 3 has none), then wrap round
        v0[1], //     to slot 0
    ];
    assert_eq!(ids(&order), expected);
    // Private items (primary or victim) of other slots were not taken: the
    // primary ones are still there for their owners ...
    assert_eq!(pool.try_get_as(3).map(|i| i.id), Some(p3[0]));
    assert_eq!(pool.try_get_as(0).map(|i| i.id), Some(p0[0]));
    // ... but slot 1's last Get found the victim empty, and Go's getSlow
    // then sets victimSize to 0: until the next cleanup no Get looks there,
    // not even for its own slot's victim private item.
    for slot in 0..4 {
        assert!(pool.try_get_as(slot).is_none());
    }
    assert_eq!(world.dropped(), 2, "the two items just taken and dropped");
    pool.cleanup();
    assert_eq!(
        world.dropped(),
        2 + [v0[0], v2[0], v3[0]].len() as u64,
        "the next cleanup drops the unreachable victim private items of slots 0, 2 and 3"
    );
    drop(order);
    drop(pool);
    world.assert_each_dropped_once();
}

/// Go's TestPoolRelease / TestPoolGC with a drop counter instead of
/// finalizers: items spread over slots survive one cleanup, whole, and the
/// second drops every one; drained items are the caller's to drop.
fn go_pool_release<P: SlotPool<Tracked>>() {
    const N: usize = 100;
    let world = World::default();
    let mut pool = P::from_builder(builder());
    for i in 0..N {
        pool.put_as(i % 3, world.fresh());
    }
    pool.cleanup();
    assert_eq!(
        world.dropped(),
        0,
        "a cleanup keeps the items as the victim"
    );
    pool.cleanup();
    assert_eq!(world.dropped(), N as u64, "a second cleanup drops them all");

    // Drained instead: nothing is left for the cleanups to drop.
    let world = World::default();
    for i in 0..N {
        pool.put_as(i % 3, world.fresh());
    }
    let drained: Vec<Tracked> = (0..3)
        .flat_map(|slot| std::iter::repeat_n(slot, N))
        .filter_map(|slot| pool.try_get_as(slot))
        .collect();
    assert_eq!(drained.len(), N);
    pool.cleanup();
    pool.cleanup();
    assert_eq!(world.dropped(), 0);
    drop(drained);
    world.assert_each_dropped_once();
}

/// Thread-bound operations act as `current_slot()`.
fn thread_ops_act_as_current_slot<P: SlotPool<Tracked>>() {
    let world = World::default();
    let mut pool = P::from_builder(builder());
    pool.put(world.fresh());
    let slot = pool.current_slot();
    assert_eq!(pool.try_get_as(slot).map(|i| i.id), Some(0));
    pool.put_as(slot, world.fresh());
    assert_eq!(pool.try_get().map(|i| i.id), Some(1));
}

/// The per-thread bound, with the reset hook running on every Put, even
/// the ones that drop their item.
fn per_thread_bound<P: SlotPool<Tracked>>() {
    let world = World::default();
    let resets = Arc::new(AtomicUsize::new(0));
    let counted = resets.clone();
    let mut pool = P::from_builder(builder().max_per_thread(2).reset(move |item| {
        item.resets += 1;
        counted.fetch_add(1, Ordering::Relaxed);
    }));
    for _ in 0..5 {
        pool.put_as(0, world.fresh());
    }
    assert_eq!(resets.load(Ordering::Relaxed), 5);
    assert_eq!(world.dropped(), 3, "items 2, 3 and 4 are over the bound");
    pool.put_as(1, world.fresh());
    assert_eq!(world.dropped(), 3, "the bound is per slot");
    let got: Vec<(u64, u32)> = std::iter::from_fn(|| pool.try_get_as(0))
        .map(|item| item.snap())
        .collect();
    assert_eq!(got, [(0, 1), (1, 1)], "slot 1's item is private to it");
    assert_eq!(pool.try_get_as(1).map(|item| item.snap()), Some((5, 1)));
    assert_eq!(world.dropped(), 6);

    let zero = P::from_builder(builder().max_per_thread(0));
    zero.put(world.fresh());
    assert_eq!(world.dropped(), 7, "a bound of 0 keeps nothing");
    assert!(zero.try_get().is_none());
}

/// A guard puts its item back when dropped, as the dropping thread's slot;
/// `into_inner` keeps it.
fn guard_puts_back<P: SlotPool<Tracked>>() {
    let world = World::default();
    let new_world = world.clone();
    let pool = P::from_builder(builder().new_fn(move || new_world.fresh()));
    let mut guard = pool.get_guard();
    guard.resets = 7;
    let id = guard.id;
    drop(guard);
    let again = pool.get_guard();
    assert_eq!((again.id, again.resets), (id, 7));
    let kept = again.into_inner();
    assert_eq!(pool.get().id, kept.id + 1, "the pool was empty: New ran");
}

/// Go's TestPoolStress, small: threads Put and Get concurrently; every item
/// ever made is dropped exactly once in the end.
fn go_pool_stress<P: SlotPool<Tracked>>() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 2_000;
    let world = World::default();
    let new_world = world.clone();
    let pool = P::from_builder(builder().new_fn(move || new_world.fresh()));
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let mut item = world.fresh();
                for round in 0..ROUNDS {
                    pool.put(item);
                    item = pool.get();
                    if round % 64 == 0 {
                        pool.cleanup();
                    }
                }
            });
        }
    });
    drop(pool);
    world.assert_each_dropped_once();
}

/// Go's testPoolDequeue, small: one producer (pushing, and popping its head
/// every tenth item) and three consumers; every value is seen exactly once.
fn one_producer_many_consumers<S: TailStealer<usize>>(
    mut push: impl FnMut(usize) -> bool + Send,
    mut pop_head: impl FnMut() -> Option<usize> + Send,
    stealer: S,
) {
    const N: usize = 20_000;
    const CONSUMERS: usize = 3;
    let seen: Vec<AtomicUsize> = (0..N).map(|_| AtomicUsize::new(0)).collect();
    let stop = &AtomicBool::new(false);
    let record = &|value: usize| {
        seen[value].fetch_add(1, Ordering::Relaxed);
        if value == N - 1 {
            stop.store(true, Ordering::Relaxed);
        }
    };
    thread::scope(|scope| {
        for _ in 0..CONSUMERS {
            let stealer = stealer.clone();
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match stealer.pop_tail() {
                        Some(value) => record(value),
                        None => thread::yield_now(),
                    }
                }
            });
        }
        scope.spawn(|| {
            for value in 0..N {
                while !push(value) {
                    thread::yield_now();
                }
                if value % 10 == 0 {
                    if let Some(value) = pop_head() {
                        record(value);
                    }
                }
            }
        });
    });
    for (value, count) in seen.iter().enumerate() {
        assert_eq!(count.load(Ordering::Relaxed), 1, "value {value}");
    }
}

fn go_dequeue<P, S>((producer, stealer): (P, S))
where
    P: BoundedProducer<usize>,
    S: TailStealer<usize>,
{
    let producer = std::sync::Mutex::new(producer);
    one_producer_many_consumers(
        |value| producer.lock().unwrap().push_head(value).is_ok(),
        || producer.lock().unwrap().pop_head(),
        stealer,
    );
}

fn go_chain<P, S>((producer, stealer): (P, S))
where
    P: UnboundedProducer<usize>,
    S: TailStealer<usize>,
{
    let producer = std::sync::Mutex::new(producer);
    one_producer_many_consumers(
        |value| {
            producer.lock().unwrap().push_head(value);
            true
        },
        || producer.lock().unwrap().pop_head(),
        stealer,
    );
}

/// Instantiates every generic test above for one pool implementation.
macro_rules! pool_tests {
    ($module:ident, $pool:ident) => {
        mod $module {
            use super::*;

            #[test]
            fn go_pool() {
                super::go_pool::<$pool<Tracked>>();
            }
            #[test]
            fn go_pool_new() {
                super::go_pool_new::<$pool<u64>>();
            }
            #[test]
            fn get_order() {
                super::get_order::<$pool<Tracked>>();
            }
            #[test]
            fn go_pool_release() {
                super::go_pool_release::<$pool<Tracked>>();
            }
            #[test]
            fn thread_ops_act_as_current_slot() {
                super::thread_ops_act_as_current_slot::<$pool<Tracked>>();
            }
            #[test]
            fn per_thread_bound() {
                super::per_thread_bound::<$pool<Tracked>>();
            }
            #[test]
            fn guard_puts_back() {
                super::guard_puts_back::<$pool<Tracked>>();
            }
            #[test]
            fn go_pool_stress() {
                super::go_pool_stress::<$pool<Tracked>>();
            }
        }
    };
}

use victim_pool::Pool as LockFreePool;
use victim_pool_reference::Pool as ReferencePool;

pool_tests!(reference, ReferencePool);
pool_tests!(lock_free, LockFreePool);

#[test]
fn go_dequeue_reference() {
    go_dequeue(victim_pool_reference::dequeue::PoolDequeue::with_start_index(16, u32::MAX - 499));
}

#[test]
fn go_dequeue_lock_free() {
    go_dequeue(victim_pool::dequeue::PoolDequeue::with_start_index(
        16,
        u32::MAX - 499,
    ));
}

#[test]
fn go_chain_reference() {
    go_chain(victim_pool_reference::chain::PoolChain::new());
}

#[test]
fn go_chain_lock_free() {
    go_chain(victim_pool::chain::PoolChain::new());
}
