//! `VICTIM_POOL_AUTOMATIC_CLEANUP=0` turns automatic cleanup off for the
//! whole process (its own test binary: the variable is read once, when the
//! first pool is built).

use std::time::Duration;

use victim_pool::{automatic_cleanup, Pool, AUTOMATIC_CLEANUP_ENV};

#[test]
fn the_environment_variable_turns_automatic_cleanup_off() {
    std::env::set_var(AUTOMATIC_CLEANUP_ENV, "0");
    let pool = Pool::builder()
        .cleanup_interval(Duration::from_millis(1))
        .build();
    pool.put(1u8);
    std::thread::sleep(Duration::from_millis(50));
    assert!(!automatic_cleanup());
    assert_eq!(pool.stats().cleanups, 0, "cleaned although turned off");
    assert_eq!(pool.try_get(), Some(1));
}
