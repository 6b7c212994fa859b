//! `VICTIM_POOL_NO_MEMBARRIER` switches a process to the fallback fence
//! pair, and the pool still works there (the mode is decided once per
//! process, so the check runs in a child process).
#![cfg(not(miri))]

use std::process::Command;

use victim_pool::{fence_mode, FenceMode, Pool};

const CHILD: &str = "VICTIM_POOL_FENCE_MODE_CHILD";

#[test]
fn the_opt_out_forces_the_fallback_fences() {
    if std::env::var_os(CHILD).is_some() {
        assert_eq!(fence_mode(), FenceMode::Fallback);
        let pool = Pool::builder().new_fn(|| 0u64).manual_cleanup().build();
        pool.put(7);
        pool.put(8);
        pool.cleanup();
        let mut got = [pool.get(), pool.get()];
        got.sort_unstable();
        assert_eq!(got, [7, 8], "one cleanup keeps the items in the victim");
        pool.put(9);
        pool.cleanup();
        pool.cleanup();
        assert_eq!(pool.get(), 0, "two cleanups free them");
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_opt_out_forces_the_fallback_fences",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("VICTIM_POOL_NO_MEMBARRIER", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "child failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // This process did not opt out: membarrier where Linux offers it.
    if cfg!(target_os = "linux") && std::env::var_os("VICTIM_POOL_NO_MEMBARRIER").is_none() {
        eprintln!("fence mode here: {:?}", fence_mode());
    }
}
