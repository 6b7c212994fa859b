//! Tests that need the process to themselves, run one at a time:
//! `cleanup_all` reaches every pool of an implementation in the process, and
//! thread-slot reuse needs no other thread to take a slot in between.

#![cfg(not(any(loom, shuttle)))]

mod common;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;

use common::{pool_machine, Tracked, World};
use proptest::prelude::*;
use victim_pool_reference::api::SlotPool;

/// Held by every test of this binary for its whole duration (per case, for
/// the property).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

proptest! {
    #![proptest_config(common::config(
        regressions!("serial.txt"),
        common::DEFAULT_CASES,
    ))]

    /// The differential state machine with `cleanup_all` steps across the
    /// history's two pools.
    #[test]
    fn pool_with_cleanup_all_matches_reference(case in pool_machine::case(true, 48)) {
        let _serial = serial();
        pool_machine::run(&case)?;
    }
}

/// `cleanup_all` cleans every live pool: items survive one, the second
/// drops them; a dropped pool is simply skipped.
fn cleanup_all_cleans_every_pool<P: SlotPool<Tracked>>() {
    let _serial = serial();
    let world = World::default();
    let mut pools: Vec<P> = (0..3)
        .map(|_| P::from_builder(victim_pool_reference::Pool::builder()))
        .collect();
    for (i, pool) in pools.iter_mut().enumerate() {
        pool.put_as(i, world.fresh());
        pool.put_as(i, world.fresh());
    }
    drop(pools.pop());
    assert_eq!(world.dropped(), 2, "the dropped pool dropped its items");
    P::cleanup_all();
    assert_eq!(world.dropped(), 2, "the victim keeps the items");
    assert_eq!(pools[1].try_get_as(1).map(|item| item.id), Some(2));
    P::cleanup_all();
    assert_eq!(world.dropped(), 6, "the second cleanup_all drops the rest");
    drop(pools);
    world.assert_each_dropped_once();
}

/// A thread that starts after another exited gets its slot back, and with
/// it the private item the exited thread left — which no other slot can
/// take.
fn exited_threads_slot_is_reused<P: SlotPool<Tracked>>() {
    let _serial = serial();
    let world = World::default();
    let mut pool = P::from_builder(victim_pool_reference::Pool::builder());
    let on_fresh_thread = |f: &(dyn Fn(&P) -> Option<Tracked> + Sync)| {
        let pool = &pool;
        thread::scope(|scope| {
            scope
                .spawn(move || (pool.current_slot(), f(pool)))
                .join()
                .expect("thread panicked")
        })
    };
    let (first, none) = on_fresh_thread(&|pool| {
        pool.put(world.fresh());
        None
    });
    assert!(none.is_none());
    let (second, got) = on_fresh_thread(&|pool| pool.try_get());
    assert_eq!(
        first, second,
        "the exited thread's slot is handed out again"
    );
    assert_eq!(got.map(|item| item.id), Some(0));
    // Only that slot could have taken it.
    pool.put_as(first, world.fresh());
    let other = if first == 0 { 1 } else { 0 };
    assert!(pool.try_get_as(other).is_none());
}

#[test]
fn cleanup_all_cleans_every_pool_reference() {
    cleanup_all_cleans_every_pool::<victim_pool_reference::Pool<Tracked>>();
}

#[test]
fn cleanup_all_cleans_every_pool_lock_free() {
    cleanup_all_cleans_every_pool::<victim_pool::Pool<Tracked>>();
}

#[test]
fn exited_threads_slot_is_reused_reference() {
    exited_threads_slot_is_reused::<victim_pool_reference::Pool<Tracked>>();
}

#[test]
fn exited_threads_slot_is_reused_lock_free() {
    exited_threads_slot_is_reused::<victim_pool::Pool<Tracked>>();
}
