fn assert_sync<T: Sync>() {}

fn main() {
    assert_sync::<victim_pool::dequeue::Producer<u8>>();
}
