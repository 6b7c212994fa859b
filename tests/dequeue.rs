//! PoolDequeue: sequential behaviour, wraparound, misuse, and Go's
//! 1 producer x N consumers "every value exactly once" test.

mod common;

use std::thread;

use common::DropLedger;
use victim_pool::dequeue::{PoolDequeue, MAX_CAPACITY};

#[test]
fn push_pop_both_ends() {
    let (mut producer, stealer) = PoolDequeue::new(4);
    for i in 0..4 {
        producer.push_head(i).unwrap();
    }
    assert_eq!(producer.push_head(99), Err(99), "full at capacity");
    assert_eq!(stealer.pop_tail(), Some(0));
    assert_eq!(producer.pop_head(), Some(3));
    assert_eq!(stealer.pop_tail(), Some(1));
    assert_eq!(producer.pop_head(), Some(2));
    assert_eq!(producer.pop_head(), None);
    assert_eq!(stealer.pop_tail(), None);
}

#[test]
fn wraps_around_the_32_bit_index_space() {
    for start in [u32::MAX - 2, u32::MAX, 0, u32::MAX - 500] {
        let (mut producer, stealer) = PoolDequeue::with_start_index(4, start);
        for round in 0..300u32 {
            for i in 0..4 {
                producer.push_head(round * 10 + i).unwrap();
            }
            assert!(producer.push_head(0).is_err());
            assert_eq!(stealer.pop_tail(), Some(round * 10));
            assert_eq!(producer.pop_head(), Some(round * 10 + 3));
            assert_eq!(stealer.pop_tail(), Some(round * 10 + 1));
            assert_eq!(stealer.pop_tail(), Some(round * 10 + 2));
            assert_eq!(stealer.pop_tail(), None);
        }
    }
}

#[test]
fn capacity_one_works() {
    let (mut producer, stealer) = PoolDequeue::with_start_index(1, u32::MAX);
    producer.push_head(1).unwrap();
    assert_eq!(producer.push_head(2), Err(2));
    assert_eq!(stealer.pop_tail(), Some(1));
    producer.push_head(3).unwrap();
    assert_eq!(producer.pop_head(), Some(3));
}

#[test]
#[should_panic(expected = "power of two")]
fn zero_capacity_panics() {
    let _ = PoolDequeue::<u8>::new(0);
}

#[test]
#[should_panic(expected = "power of two")]
fn non_power_of_two_panics() {
    let _ = PoolDequeue::<u8>::new(6);
}

#[test]
#[should_panic(expected = "power of two")]
fn too_large_capacity_panics() {
    let _ = PoolDequeue::<u8>::new(MAX_CAPACITY * 2);
}

#[test]
fn dropping_the_dequeue_drops_what_is_left() {
    let ledger = DropLedger::new(8);
    {
        let (mut producer, stealer) = PoolDequeue::with_start_index(8, u32::MAX - 3);
        for id in 0..8 {
            producer.push_head(ledger.item(id)).unwrap();
        }
        drop(stealer.pop_tail());
        drop(producer.pop_head());
        assert_eq!(ledger.total_drops(), 2);
        drop(stealer);
    }
    ledger.assert_each_dropped_once();
}

impl common::SpmcProducer for victim_pool::dequeue::Producer<common::Counted> {
    fn push(&mut self, mut item: common::Counted) {
        // Full (or a consumer still releasing the slot): let the consumers
        // run and retry with the same item.
        while let Err(refused) = self.push_head(item) {
            item = refused;
            thread::yield_now();
        }
    }

    fn pop_head(&mut self) -> Option<common::Counted> {
        victim_pool::dequeue::Producer::pop_head(self)
    }
}

/// Go's TestPoolDequeue shape, starting 500 below 2^32 so the run wraps.
#[test]
fn one_producer_nine_consumers_each_value_once() {
    let (producer, stealer) = PoolDequeue::with_start_index(16, u32::MAX - 500);
    common::each_value_seen_once(producer, stealer, |s| s.pop_tail());
}

#[test]
fn handles_are_send_and_stealer_is_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<victim_pool::dequeue::Producer<String>>();
    send::<victim_pool::dequeue::Stealer<String>>();
    sync::<victim_pool::dequeue::Stealer<String>>();
}
