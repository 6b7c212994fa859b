use victim_pool::Pool;

fn main() {
    let guard = {
        let pool = Pool::new(|| 0u8);
        pool.get_guard()
    };
    drop(guard);
}
