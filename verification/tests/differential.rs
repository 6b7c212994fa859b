//! Sequential differential test: random scripts of `(slot, Put | Get |
//! cleanup)` replayed on the lock-free pool (`as_slot`), the reference
//! (`victim_pool_reference::Pool`, through the shared `SlotPool` trait) and
//! the checkers' clonable model must give identical results at every step.
//! Seeded: a failure prints `VERIFY_SEED=<n>` to replay it.
#![cfg(not(any(loom, shuttle)))]

use victim_pool_reference::api::SlotPool;
use victim_pool_verification::pool_model::Model;
use victim_pool_verification::rng::{seed_from_env, Rng};

fn run_script(seed: u64, len: usize) {
    let mut rng = Rng::new(seed);
    let mut lock_free: victim_pool::Pool<u64> =
        SlotPool::from_builder(victim_pool_reference::Pool::builder());
    let mut reference: victim_pool_reference::Pool<u64> =
        SlotPool::from_builder(victim_pool_reference::Pool::builder());
    let mut model = Model::new();
    let slots = 1 + rng.below(4) as usize;
    for (step, id) in (0..len).zip(0u64..) {
        let slot = rng.below(slots as u64) as usize;
        match rng.below(10) {
            0 => {
                lock_free.cleanup();
                reference.cleanup();
                model.cleanup();
            }
            1..=5 => {
                lock_free.put_as(slot, id);
                reference.put_as(slot, id);
                model.put(slot, id);
            }
            _ => {
                let a = lock_free.try_get_as(slot);
                let b = reference.try_get_as(slot);
                let c = model.get(slot);
                assert!(
                    a == b && b == c,
                    "VERIFY_SEED={seed}: step {step}, Get as slot {slot}: lock-free {a:?}, reference {b:?}, model {c:?}"
                );
            }
        }
    }
}

#[test]
fn lock_free_reference_and_model_agree() {
    let base = seed_from_env(1);
    let scripts = if cfg!(miri) { 20 } else { 3_000 };
    for i in 0..scripts {
        run_script(base.wrapping_add(i), 60);
    }
}
