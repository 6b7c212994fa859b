use std::rc::Rc;
use victim_pool::Pool;

fn assert_sync<T: Sync>() {}

fn main() {
    assert_sync::<Pool<Rc<u8>>>();
}
