//! Sequential sanity of the structures the models drive, at the 2^32
//! wraparound (run in every build, including under loom's cfg).
#![cfg(not(any(loom, shuttle)))]

use victim_pool::dequeue::PoolDequeue;

#[test]
fn dequeue_wraps_at_capacity_two() {
    let (mut producer, stealer) = PoolDequeue::<u64>::with_start_index(2, u32::MAX - 1);
    assert_eq!(producer.push_head(1), Ok(()));
    assert_eq!(producer.push_head(2), Ok(()));
    assert_eq!(producer.push_head(3), Err(3));
    assert_eq!(producer.pop_head(), Some(2));
    assert_eq!(stealer.pop_tail(), Some(1));
    assert_eq!(stealer.pop_tail(), None);
}
