//! Sequential differential testing of `victim_pool::dequeue` and
//! `victim_pool::chain` against their specifications: identical results
//! after every operation, identical drops, every item dropped exactly once.

#![cfg(not(any(loom, shuttle)))]

mod common;

use common::{Snap, Tracked, World};
use proptest::prelude::*;
use victim_pool_reference::api::{BoundedProducer, TailStealer, UnboundedProducer};
use victim_pool_reference::{chain, dequeue};

/// Consumer handles per structure (clones of one stealer).
const STEALERS: usize = 3;

/// One step on a deque (bounded or not).
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Push `n` fresh items at the head, one by one.
    Push { n: usize },
    /// `n` pops at the head.
    PopHead { n: usize },
    /// `n` pops at the tail through stealer `stealer`.
    PopTail { stealer: usize, n: usize },
    /// `n` times: push one, pop one at the tail. Moves a dequeue's indices
    /// forward cheaply, so histories cross 2^32 from a start 500 below it.
    Cycle { n: usize },
}

/// Steps; `Push` and `Pop*` of up to `many - 1` at once; `Cycle` if
/// `cycles`.
fn step(many: usize, cycles: bool) -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Push { n: 1 }),
        1 => (1..many).prop_map(|n| Step::Push { n }),
        4 => Just(Step::PopHead { n: 1 }),
        1 => (1..many).prop_map(|n| Step::PopHead { n }),
        4 => (0..STEALERS).prop_map(|stealer| Step::PopTail { stealer, n: 1 }),
        1 => (0..STEALERS, 1..many).prop_map(|(stealer, n)| Step::PopTail { stealer, n }),
        // Without cycles (a chain has no indices to wrap), more tail pops.
        1 => (1usize..600).prop_map(move |n| if cycles {
            Step::Cycle { n }
        } else {
            Step::PopTail { stealer: 0, n: 1 }
        }),
    ]
}

/// Start indices: 0, Go's 2^32 - 500, just below 2^32, anywhere.
fn start_index() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(u32::MAX - 499),
        (u32::MAX - 64)..=u32::MAX,
        any::<u32>(),
    ]
}

/// One implementation of a deque under test: a producer, stealers and the
/// items' world. `push` reports whether the item was accepted.
struct Side<P, S> {
    world: World,
    producer: P,
    stealers: Vec<S>,
}

impl<P, S: Clone> Side<P, S> {
    fn new((producer, stealer): (P, S)) -> Self {
        Self {
            world: World::default(),
            producer,
            stealers: vec![stealer; STEALERS],
        }
    }
}

/// Replays `steps` on both sides through `push` / `pop_head` / `pop_tail`,
/// comparing every result, the drops, and `check` after every step; then
/// drains (or drops) both and checks every item was dropped exactly once.
#[allow(clippy::too_many_arguments, reason = "one closure per operation")]
fn run<P1, S1, P2, S2>(
    steps: &[Step],
    drain: bool,
    mut lock_free: Side<P1, S1>,
    mut reference: Side<P2, S2>,
    push1: impl Fn(&mut P1, Tracked) -> Result<(), Tracked>,
    push2: impl Fn(&mut P2, Tracked) -> Result<(), Tracked>,
    pop1: impl Fn(&mut P1) -> Option<Tracked>,
    pop2: impl Fn(&mut P2) -> Option<Tracked>,
    check: impl Fn(&P1, &P2) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError>
where
    S1: TailStealer<Tracked>,
    S2: TailStealer<Tracked>,
{
    let snap = |item: &Option<Tracked>| item.as_ref().map(Tracked::snap);
    let push_result = |result: &Result<(), Tracked>| -> Result<(), Snap> {
        result.as_ref().map(|_| ()).map_err(Tracked::snap)
    };
    for (index, &step) in steps.iter().enumerate() {
        match step {
            Step::Push { n } => {
                for _ in 0..n {
                    let lf = push1(&mut lock_free.producer, lock_free.world.fresh());
                    let rf = push2(&mut reference.producer, reference.world.fresh());
                    prop_assert_eq!(push_result(&lf), push_result(&rf), "step {}", index);
                }
            }
            Step::PopHead { n } => {
                for _ in 0..n {
                    let lf = pop1(&mut lock_free.producer);
                    let rf = pop2(&mut reference.producer);
                    prop_assert_eq!(snap(&lf), snap(&rf), "step {}", index);
                }
            }
            Step::PopTail { stealer, n } => {
                for _ in 0..n {
                    let lf = lock_free.stealers[stealer].pop_tail();
                    let rf = reference.stealers[stealer].pop_tail();
                    prop_assert_eq!(snap(&lf), snap(&rf), "step {}", index);
                }
            }
            Step::Cycle { n } => {
                for _ in 0..n {
                    let lf = push1(&mut lock_free.producer, lock_free.world.fresh());
                    let rf = push2(&mut reference.producer, reference.world.fresh());
                    prop_assert_eq!(push_result(&lf), push_result(&rf), "step {}", index);
                    let lf = lock_free.stealers[0].pop_tail();
                    let rf = reference.stealers[0].pop_tail();
                    prop_assert_eq!(snap(&lf), snap(&rf), "step {}", index);
                }
            }
        }
        prop_assert_eq!(
            lock_free.world.fingerprint(),
            reference.world.fingerprint(),
            "step {}: drops differ",
            index
        );
        check(&lock_free.producer, &reference.producer)?;
    }
    if drain {
        // Alternate the two ends until both are empty.
        let mut from_head = true;
        loop {
            let (lf, rf) = if from_head {
                (pop1(&mut lock_free.producer), pop2(&mut reference.producer))
            } else {
                (
                    lock_free.stealers[0].pop_tail(),
                    reference.stealers[0].pop_tail(),
                )
            };
            prop_assert_eq!(snap(&lf), snap(&rf), "draining");
            if lf.is_none() {
                break;
            }
            from_head = !from_head;
        }
        prop_assert_eq!(pop1(&mut lock_free.producer).is_none(), true);
        prop_assert_eq!(lock_free.stealers[0].pop_tail().is_none(), true);
        check(&lock_free.producer, &reference.producer)?;
    }
    let (lf_world, rf_world) = (lock_free.world.clone(), reference.world.clone());
    drop(lock_free);
    drop(reference);
    prop_assert_eq!(lf_world.created(), rf_world.created());
    prop_assert_eq!(lf_world.drops(), rf_world.drops());
    lf_world.assert_each_dropped_once();
    rf_world.assert_each_dropped_once();
    Ok(())
}

fn capacity() -> impl Strategy<Value = usize> {
    (0u32..=5).prop_map(|log| 1 << log)
}

proptest! {
    #![proptest_config(common::config(
        regressions!("dequeue_differential.txt"),
        common::DEFAULT_CASES,
    ))]

    #[test]
    fn dequeue_matches_reference(
        capacity in capacity(),
        start in start_index(),
        steps in proptest::collection::vec(step(40, true), 0..64),
        drain in any::<bool>(),
    ) {
        run(
            &steps,
            drain,
            Side::new(victim_pool::dequeue::PoolDequeue::with_start_index(capacity, start)),
            Side::new(dequeue::PoolDequeue::with_start_index(capacity, start)),
            BoundedProducer::push_head,
            BoundedProducer::push_head,
            BoundedProducer::pop_head,
            BoundedProducer::pop_head,
            |_, _| Ok(()),
        )?;
    }
}

proptest! {
    #![proptest_config(common::config(
        regressions!("chain_differential.txt"),
        common::DEFAULT_CASES,
    ))]

    /// Pushes of up to 80 at once cross the 8-, 24- and 56-item segment
    /// boundaries; `len` must match after every step.
    #[test]
    fn chain_matches_reference(
        steps in proptest::collection::vec(step(80, false), 0..64),
        drain in any::<bool>(),
    ) {
        run(
            &steps,
            drain,
            Side::new(victim_pool::chain::PoolChain::new()),
            Side::new(chain::PoolChain::new()),
            |p: &mut victim_pool::chain::Producer<Tracked>, item| {
                UnboundedProducer::push_head(p, item);
                Ok(())
            },
            |p: &mut chain::Producer<Tracked>, item| {
                UnboundedProducer::push_head(p, item);
                Ok(())
            },
            UnboundedProducer::pop_head,
            UnboundedProducer::pop_head,
            |lf, rf| {
                prop_assert_eq!(lf.len(), rf.len(), "len");
                prop_assert_eq!(lf.is_empty(), rf.is_empty(), "is_empty");
                Ok(())
            },
        )?;
    }
}

/// Go's start 500 below 2^32, wrapped deterministically: 1,000 pushes and
/// pops through a ring of 4 cross 2^32 on both ends.
#[test]
fn dequeue_wraps_at_two_to_the_32() {
    let (mut producer, stealer) =
        victim_pool::dequeue::PoolDequeue::<u32>::with_start_index(4, u32::MAX - 499);
    for i in 0..1_000u32 {
        assert_eq!(producer.push_head(i), Ok(()));
        assert_eq!(producer.push_head(i + 1), Ok(()));
        assert_eq!(stealer.pop_tail(), Some(i));
        assert_eq!(producer.pop_head(), Some(i + 1));
    }
    for i in 0..4 {
        assert_eq!(producer.push_head(i), Ok(()));
    }
    assert_eq!(producer.push_head(9), Err(9), "full at capacity");
    assert_eq!(stealer.pop_tail(), Some(0));
    assert_eq!(producer.push_head(9), Ok(()));
}

/// The chain's `pop_head` promises that "a drained chain shrinks to its
/// head segment without waiting for a consumer to pass by" (src/chain.rs),
/// including when consumers have already unlinked the older segments
/// themselves, so that `pop_head` finds `tail == head` and only has to
/// free them.
#[test]
fn drained_chain_keeps_only_its_head_segment() {
    let (mut producer, stealer) = victim_pool::chain::PoolChain::<u32>::new();
    // Fill the 8-slot first segment and start a second one.
    for i in 0..9 {
        producer.push_head(i);
    }
    assert_eq!(producer.allocated_segments(), 2);
    // A consumer takes everything; taking item 8 unlinks the first segment.
    for i in 0..9 {
        assert_eq!(stealer.pop_tail(), Some(i));
    }
    assert_eq!(producer.pop_head(), None);
    assert_eq!(producer.len(), 0);
    assert_eq!(
        producer.allocated_segments(),
        1,
        "pop_head on a drained chain should leave only the head segment"
    );
}
