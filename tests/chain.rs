//! PoolChain: growth, order, reclamation of drained segments, and Go's
//! 1 producer x N consumers test.

mod common;

use common::DropLedger;
use victim_pool::chain::PoolChain;

#[test]
fn grows_past_segment_boundaries_and_keeps_order() {
    let (mut producer, stealer) = PoolChain::new();
    assert_eq!(
        producer.allocated_segments(),
        0,
        "nothing allocated before the first push"
    );
    for i in 0..100 {
        producer.push_head(i);
    }
    // 8 + 16 + 32 + 64 >= 100: four segments.
    assert_eq!(producer.allocated_segments(), 4);
    assert_eq!(producer.len(), 100);
    assert_eq!(stealer.pop_tail(), Some(0), "oldest at the tail");
    assert_eq!(producer.pop_head(), Some(99), "newest at the head");
    let mut rest: Vec<i32> = std::iter::from_fn(|| stealer.pop_tail()).collect();
    assert_eq!(rest.len(), 98);
    assert!(
        rest.windows(2).all(|w| w[0] < w[1]),
        "tail pops in FIFO order"
    );
    rest.clear();
    assert_eq!(producer.pop_head(), None);
    assert!(producer.is_empty());
}

#[test]
fn pop_head_walks_back_into_older_segments() {
    let (mut producer, _stealer) = PoolChain::new();
    for i in 0..30 {
        producer.push_head(i);
    }
    let popped: Vec<i32> = std::iter::from_fn(|| producer.pop_head()).collect();
    assert_eq!(popped, (0..30).rev().collect::<Vec<_>>());
}

#[test]
fn drained_segments_are_freed() {
    let (mut producer, stealer) = PoolChain::new();
    for i in 0..1000 {
        producer.push_head(i);
    }
    let grown = producer.allocated_segments();
    assert!(grown >= 7, "1000 values need 7 segments, got {grown}");
    // Drained by consumers: they unlink, the producer frees on its next
    // empty pop_head (or growth).
    while stealer.pop_tail().is_some() {}
    assert_eq!(producer.pop_head(), None);
    assert_eq!(
        producer.allocated_segments(),
        1,
        "only the head segment stays"
    );
    // Drained by the producer itself.
    for i in 0..1000 {
        producer.push_head(i);
    }
    while producer.pop_head().is_some() {}
    assert_eq!(
        producer.allocated_segments(),
        1,
        "only the head segment stays"
    );
}

#[test]
fn dropping_the_chain_drops_what_is_left() {
    let ledger = DropLedger::new(50);
    let (mut producer, stealer) = PoolChain::new();
    for id in 0..50 {
        producer.push_head(ledger.item(id));
    }
    drop(stealer.pop_tail());
    drop(producer.pop_head());
    drop(producer);
    assert_eq!(ledger.total_drops(), 2, "the stealer keeps the chain alive");
    drop(stealer);
    ledger.assert_each_dropped_once();
}

/// Go's TestPoolChain shape: every value seen exactly once while consumers
/// race the producer across segment growth and unlinking; the drained chain
/// then shrinks to its head segment.
#[test]
fn one_producer_nine_consumers_each_value_once() {
    /// The producer, recording how many segments are left whenever it
    /// finds the chain empty.
    struct Inspect<'a>(
        victim_pool::chain::Producer<common::Counted>,
        &'a std::sync::Mutex<Option<usize>>,
    );
    impl common::SpmcProducer for Inspect<'_> {
        fn push(&mut self, item: common::Counted) {
            self.0.push_head(item);
        }
        fn pop_head(&mut self) -> Option<common::Counted> {
            let item = self.0.pop_head();
            if item.is_none() {
                *self.1.lock().unwrap() = Some(self.0.allocated_segments());
            }
            item
        }
    }
    let (producer, stealer) = PoolChain::new();
    let inspect = std::sync::Mutex::new(None);
    common::each_value_seen_once(Inspect(producer, &inspect), stealer, |s| s.pop_tail());
    assert_eq!(
        *inspect.lock().unwrap(),
        Some(1),
        "drained chain shrinks to its head"
    );
}
