use std::rc::Rc;
use victim_pool::Pool;

fn assert_send<T: Send>() {}

fn main() {
    assert_send::<Pool<Rc<u8>>>();
}
