//! Mutation testing support (see `verification/`): `VICTIM_POOL_MUTANT=<name>`
//! compiles one deliberately broken variant of the core, selected by the
//! `victim_pool_mutant` cfg. Normal builds never set it.

/// Every mutant the core knows; `verification/mutants.sh` runs them all.
const MUTANTS: &[&str] = &[
    "consumer_clears_typ_first",
    "consumer_typ_store_relaxed",
    "producer_skips_typ_check",
    "producer_typ_load_relaxed",
    "push_publish_relaxed",
    "pop_tail_without_cas",
    "chain_next_after_pop",
    "free_unlinked_immediately",
    "get_skips_victim",
    "steal_from_head",
    "cleanup_frees_victim_early",
    "drop_inside_operation",
    "fence_failure_unwinds",
    "fence_failure_ignored",
    "cleanup_panic_stops_sweep",
    "snapshot_clones_under_lock",
    "fork_pins_block",
];

fn main() {
    println!("cargo:rerun-if-env-changed=VICTIM_POOL_MUTANT");
    println!("cargo:rerun-if-changed=build.rs");
    match std::env::var("VICTIM_POOL_MUTANT") {
        Ok(name) if name.is_empty() => {}
        Ok(name) => {
            if !MUTANTS.contains(&name.as_str()) {
                panic!(
                    "VICTIM_POOL_MUTANT={name:?} is not a known mutant; known: {}",
                    MUTANTS.join(", ")
                );
            }
            println!("cargo:rustc-cfg=victim_pool_mutant=\"{name}\"");
            println!("cargo:warning=victim-pool built as MUTANT {name}");
        }
        Err(_) => {}
    }
}
