use victim_pool::Pool;

fn main() {
    let pool = Pool::new(|| 0u8);
    let handle = pool.local();
    std::thread::scope(|s| {
        s.spawn(move || handle.get());
    });
}
