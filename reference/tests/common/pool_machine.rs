//! The pool state machine: a history of `(pool, slot, operation)` steps,
//! replayed on `victim_pool::Pool` and on the reference, compared after
//! every step.
//!
//! Steps that need a real thread (a fresh thread that exits afterwards, a
//! guard dropped by the test thread) run for real on the *leading*
//! implementation, which picks the slot through its own thread ids; the
//! other one replays the step as that explicit slot. Which one leads is part
//! of the generated case.

use std::collections::BTreeSet;
use std::thread;

use proptest::prelude::*;
use victim_pool_reference::api::{Guard, SlotPool};

use super::{Snap, Tracked, World};

/// Pools per history (so `CleanupAll` has more than one pool to clean).
pub const POOLS: usize = 2;

/// How one pool is built.
#[derive(Clone, Copy, Debug)]
pub struct PoolConfig {
    /// Has New (a fresh item); without it `Get` steps act as `TryGet`.
    pub new_fn: bool,
    /// Has a reset hook (counts in [`Tracked::resets`]).
    pub reset: bool,
    /// `max_per_thread`.
    pub max: Option<usize>,
}

/// What a fresh thread does before it exits.
#[derive(Clone, Copy, Debug)]
pub enum ThreadStep {
    Put,
    Get,
    TryGet,
}

/// One step of a history.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Put a fresh item as `slot`.
    Put { pool: usize, slot: usize },
    /// Put `n` fresh items as `slot` (crosses chain segments at 8, 24, 56).
    PutMany { pool: usize, slot: usize, n: usize },
    /// Put back an item the test holds (index modulo the hand).
    PutBack {
        pool: usize,
        slot: usize,
        hand: usize,
    },
    /// Get as `slot` (New on a miss; `TryGet` if the pool has no New).
    Get { pool: usize, slot: usize },
    /// Get without New as `slot`.
    TryGet { pool: usize, slot: usize },
    /// `n` Gets without New as `slot`.
    TryGetMany { pool: usize, slot: usize, n: usize },
    /// Cleanup of one pool.
    Cleanup { pool: usize },
    /// `cleanup_all` of the implementation (only in the serial binary).
    CleanupAll,
    /// A fresh thread does one operation, then exits (its slot is freed and
    /// may be reused by the next fresh thread).
    OnThread { pool: usize, step: ThreadStep },
    /// `get_guard` on the test thread; the guard is kept (`into_inner`) or
    /// dropped (puts back).
    Guard { pool: usize, keep: bool },
    /// Drop an item the test holds.
    DropHeld { hand: usize },
    /// Drop the pool (and everything in it) and build a fresh one.
    Rebuild { pool: usize },
}

/// A generated case.
#[derive(Clone, Debug)]
pub struct Case {
    pub configs: [PoolConfig; POOLS],
    pub steps: Vec<Step>,
    /// Whether the lock-free pool picks the slots of thread-bound steps.
    pub lock_free_leads: bool,
    /// Drain every pool at the end (else just drop them).
    pub drain: bool,
}

fn pool_config() -> impl Strategy<Value = PoolConfig> {
    let max = prop_oneof![3 => Just(None), 2 => (0usize..5).prop_map(Some)];
    (any::<bool>(), any::<bool>(), max).prop_map(|(new_fn, reset, max)| PoolConfig {
        new_fn,
        reset,
        max,
    })
}

/// Mostly slots 0–2, sometimes one far away (a sparse slot table).
fn slot() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..3, 1 => Just(9), 1 => Just(40)]
}

fn step(with_cleanup_all: bool) -> impl Strategy<Value = Step> {
    let pool = 0..POOLS;
    let thread_step = prop_oneof![
        Just(ThreadStep::Put),
        Just(ThreadStep::Get),
        Just(ThreadStep::TryGet)
    ];
    let many = 1usize..40;
    prop_oneof![
        8 => (pool.clone(), slot()).prop_map(|(pool, slot)| Step::Put { pool, slot }),
        1 => (pool.clone(), slot(), many.clone())
            .prop_map(|(pool, slot, n)| Step::PutMany { pool, slot, n }),
        3 => (pool.clone(), slot(), any::<usize>())
            .prop_map(|(pool, slot, hand)| Step::PutBack { pool, slot, hand }),
        5 => (pool.clone(), slot()).prop_map(|(pool, slot)| Step::Get { pool, slot }),
        5 => (pool.clone(), slot()).prop_map(|(pool, slot)| Step::TryGet { pool, slot }),
        1 => (pool.clone(), slot(), many)
            .prop_map(|(pool, slot, n)| Step::TryGetMany { pool, slot, n }),
        2 => pool.clone().prop_map(|pool| Step::Cleanup { pool }),
        // Without `cleanup_all`, the weight goes to more per-pool cleanups.
        2 => pool.clone().prop_map(move |pool| if with_cleanup_all {
            Step::CleanupAll
        } else {
            Step::Cleanup { pool }
        }),
        1 => (pool.clone(), thread_step).prop_map(|(pool, step)| Step::OnThread { pool, step }),
        2 => (pool.clone(), any::<bool>()).prop_map(|(pool, keep)| Step::Guard { pool, keep }),
        1 => any::<usize>().prop_map(|hand| Step::DropHeld { hand }),
        1 => pool.prop_map(|pool| Step::Rebuild { pool }),
    ]
}

/// Histories of up to `max_steps` steps.
pub fn case(with_cleanup_all: bool, max_steps: usize) -> impl Strategy<Value = Case> {
    (
        [pool_config(), pool_config()],
        proptest::collection::vec(step(with_cleanup_all), 0..max_steps),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(configs, steps, lock_free_leads, drain)| Case {
            configs,
            steps,
            lock_free_leads,
            drain,
        })
}

/// One implementation's side of the replay.
struct Side<P> {
    world: World,
    configs: [PoolConfig; POOLS],
    pools: Vec<P>,
    /// Items the test holds (from Gets), in the order it got them.
    hand: Vec<Tracked>,
}

/// Who picks the slot of a thread-bound step.
#[derive(Clone, Copy)]
enum Role {
    /// Run it for real; the implementation picks the slot.
    Lead,
    /// Replay it as this slot.
    Follow(usize),
}

/// What one step observed: items returned (in order), and the slot a
/// thread-bound step ran as.
#[derive(Debug, PartialEq)]
struct Observed {
    items: Vec<Option<Snap>>,
    slot: Option<usize>,
}

impl<P: SlotPool<Tracked>> Side<P> {
    fn new(configs: [PoolConfig; POOLS]) -> Self {
        let world = World::default();
        let pools = configs.iter().map(|&c| build(&world, c)).collect();
        Self {
            world,
            configs,
            pools,
            hand: Vec::new(),
        }
    }

    fn keep(&mut self, item: Option<Tracked>) -> Option<Snap> {
        let snap = item.as_ref().map(Tracked::snap);
        self.hand.extend(item);
        snap
    }

    fn take_held(&mut self, index: usize) -> Option<Tracked> {
        if self.hand.is_empty() {
            return None;
        }
        let index = index % self.hand.len();
        Some(self.hand.remove(index))
    }

    fn apply(&mut self, step: Step, role: Role) -> Observed {
        let mut items = Vec::new();
        let mut slot_used = None;
        match step {
            Step::Put { pool, slot } => {
                let item = self.world.fresh();
                self.pools[pool].put_as(slot, item);
            }
            Step::PutMany { pool, slot, n } => {
                for _ in 0..n {
                    let item = self.world.fresh();
                    self.pools[pool].put_as(slot, item);
                }
            }
            Step::PutBack { pool, slot, hand } => {
                if let Some(item) = self.take_held(hand) {
                    items.push(Some(item.snap()));
                    self.pools[pool].put_as(slot, item);
                }
            }
            Step::Get { pool, slot } => {
                let item = if self.configs[pool].new_fn {
                    Some(self.pools[pool].get_as(slot))
                } else {
                    self.pools[pool].try_get_as(slot)
                };
                items.push(self.keep(item));
            }
            Step::TryGet { pool, slot } => {
                let item = self.pools[pool].try_get_as(slot);
                items.push(self.keep(item));
            }
            Step::TryGetMany { pool, slot, n } => {
                for _ in 0..n {
                    let item = self.pools[pool].try_get_as(slot);
                    items.push(self.keep(item));
                }
            }
            Step::Cleanup { pool } => self.pools[pool].cleanup(),
            Step::CleanupAll => P::cleanup_all(),
            Step::OnThread { pool, step } => {
                let new_fn = self.configs[pool].new_fn;
                let (slot, item) = match role {
                    Role::Lead => {
                        let pool = &self.pools[pool];
                        let world = &self.world;
                        thread::scope(|scope| {
                            scope
                                .spawn(move || {
                                    let slot = pool.current_slot();
                                    let item = match step {
                                        ThreadStep::Put => {
                                            pool.put(world.fresh());
                                            None
                                        }
                                        ThreadStep::Get if new_fn => Some(pool.get()),
                                        ThreadStep::Get | ThreadStep::TryGet => pool.try_get(),
                                    };
                                    (slot, item)
                                })
                                // `join` (not the scope's end) waits for the
                                // thread's thread-locals to be destroyed, so
                                // its slot is free again afterwards.
                                .join()
                                .expect("thread step panicked")
                        })
                    }
                    Role::Follow(slot) => {
                        let pool = &mut self.pools[pool];
                        let item = match step {
                            ThreadStep::Put => {
                                pool.put_as(slot, self.world.fresh());
                                None
                            }
                            ThreadStep::Get if new_fn => Some(pool.get_as(slot)),
                            ThreadStep::Get | ThreadStep::TryGet => pool.try_get_as(slot),
                        };
                        (slot, item)
                    }
                };
                slot_used = Some(slot);
                if !matches!(step, ThreadStep::Put) {
                    items.push(self.keep(item));
                }
            }
            Step::Guard { pool, keep } => {
                if self.configs[pool].new_fn {
                    let (slot, item) = match role {
                        Role::Lead => {
                            let pool = &self.pools[pool];
                            let guard = pool.get_guard();
                            let snap = guard.snap();
                            let kept = keep.then(|| guard.into_inner());
                            (pool.current_slot(), (snap, kept))
                        }
                        Role::Follow(slot) => {
                            let pool = &mut self.pools[pool];
                            let item = pool.get_as(slot);
                            let snap = item.snap();
                            if keep {
                                (slot, (snap, Some(item)))
                            } else {
                                pool.put_as(slot, item);
                                (slot, (snap, None))
                            }
                        }
                    };
                    slot_used = Some(slot);
                    items.push(Some(item.0));
                    self.hand.extend(item.1);
                }
            }
            Step::DropHeld { hand } => {
                if let Some(item) = self.take_held(hand) {
                    items.push(Some(item.snap()));
                }
            }
            Step::Rebuild { pool } => {
                self.pools[pool] = build(&self.world, self.configs[pool]);
            }
        }
        Observed {
            items,
            slot: slot_used,
        }
    }

    fn held(&self) -> Vec<Snap> {
        self.hand.iter().map(Tracked::snap).collect()
    }
}

fn build<P: SlotPool<Tracked>>(world: &World, config: PoolConfig) -> P {
    let mut builder = victim_pool_reference::Pool::builder();
    if config.new_fn {
        let world = world.clone();
        builder = builder.new_fn(move || world.fresh());
    }
    if config.reset {
        builder = builder.reset(|item: &mut Tracked| item.resets += 1);
    }
    if let Some(max) = config.max {
        builder = builder.max_per_thread(max);
    }
    P::from_builder(builder)
}

/// Replays `case` on both implementations; fails on the first difference.
pub fn run(case: &Case) -> Result<(), TestCaseError> {
    let mut lock_free: Side<victim_pool::Pool<Tracked>> = Side::new(case.configs);
    let mut reference: Side<victim_pool_reference::Pool<Tracked>> = Side::new(case.configs);
    let mut slots_used: BTreeSet<usize> = BTreeSet::new();
    for (index, &step) in case.steps.iter().enumerate() {
        let (lf, rf) = if case.lock_free_leads {
            let lf = lock_free.apply(step, Role::Lead);
            let rf = reference.apply(step, follow(lf.slot));
            (lf, rf)
        } else {
            let rf = reference.apply(step, Role::Lead);
            let lf = lock_free.apply(step, follow(rf.slot));
            (lf, rf)
        };
        prop_assert_eq!(&lf, &rf, "step {} ({:?}): results differ", index, step);
        prop_assert_eq!(
            lock_free.world.fingerprint(),
            reference.world.fingerprint(),
            "step {} ({:?}): drops differ",
            index,
            step
        );
        prop_assert_eq!(lock_free.held(), reference.held());
        slots_used.extend(lf.slot);
        if let Step::Put { slot, .. }
        | Step::PutMany { slot, .. }
        | Step::PutBack { slot, .. }
        | Step::Get { slot, .. }
        | Step::TryGet { slot, .. }
        | Step::TryGetMany { slot, .. } = step
        {
            slots_used.insert(slot);
        }
    }
    if case.drain {
        // Every slot that was used, in turn, takes until it finds nothing:
        // that empties private items as well as everything stealable.
        for pool in 0..POOLS {
            for &slot in &slots_used {
                loop {
                    let lf = lock_free.pools[pool].try_get_as(slot);
                    let rf = reference.pools[pool].try_get_as(slot);
                    prop_assert_eq!(
                        lf.as_ref().map(Tracked::snap),
                        rf.as_ref().map(Tracked::snap),
                        "draining pool {} as slot {}",
                        pool,
                        slot
                    );
                    if lf.is_none() {
                        break;
                    }
                    lock_free.hand.extend(lf);
                    reference.hand.extend(rf);
                }
            }
        }
        // Drained pools hold only what no Get can reach (other slots'
        // victim private items once a Get found the victim empty), the
        // same on both sides: dropping them drops as many.
        let before = (lock_free.world.dropped(), reference.world.dropped());
        lock_free.pools.clear();
        reference.pools.clear();
        prop_assert_eq!(
            lock_free.world.dropped() - before.0,
            reference.world.dropped() - before.1,
            "a drained pool held other items than the reference"
        );
        let mut lf = lock_free.held();
        let mut rf = reference.held();
        lf.sort_unstable();
        rf.sort_unstable();
        prop_assert_eq!(lf, rf, "the multisets of items differ");
    } else {
        lock_free.pools.clear();
        reference.pools.clear();
        prop_assert_eq!(lock_free.world.drops(), reference.world.drops());
    }
    lock_free.hand.clear();
    reference.hand.clear();
    prop_assert_eq!(lock_free.world.created(), reference.world.created());
    prop_assert_eq!(lock_free.world.drops(), reference.world.drops());
    lock_free.world.assert_each_dropped_once();
    reference.world.assert_each_dropped_once();
    Ok(())
}

fn follow(slot: Option<usize>) -> Role {
    // A step that is not thread-bound ignores the role.
    Role::Follow(slot.unwrap_or(0))
}
