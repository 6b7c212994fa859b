//! The lessons of `poolcheck explain`: one per mutant of the catalogue,
//! what kind of bug it shows, the rule it breaks and where DESIGN.md states
//! it; where lessons are built.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::context::Ctx;

/// What kind of bug a lesson shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// An ordering too weak: a load that may read an older value.
    WeakMemory,
    /// A bad interleaving, even under sequential consistency.
    Interleaving,
    /// Memory freed while another thread may still use it.
    Reclamation,
    /// A rule about user code, panics or the API (not an interleaving).
    Api,
}

/// One lesson: a mutant of the catalogue and what its picture teaches.
#[derive(Clone, Debug)]
pub struct Lesson {
    /// The mutant's name.
    pub mutant: &'static str,
    /// What kind of bug.
    pub kind: Kind,
    /// The DESIGN.md section that states the rule.
    pub section: &'static str,
    /// The invariant that breaks, in one sentence.
    pub invariant: &'static str,
}

/// The lessons, in the order of verification/TOUR.md.
pub const LESSONS: &[Lesson] = &[
    Lesson { mutant: "consumer_clears_typ_first", kind: Kind::Interleaving, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "typ-then-val: a slot's typ may be cleared only after its value was moved out, yet here the producer writes the slot while a consumer is still reading it" },
    Lesson { mutant: "producer_skips_typ_check", kind: Kind::Interleaving, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "the producer may write a slot only after reading its typ clear, yet here it overwrites a slot a consumer has won but not yet read" },
    Lesson { mutant: "consumer_typ_store_relaxed", kind: Kind::WeakMemory, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "the consumer's typ store must be Release so its read of the value happens-before the producer's next write, yet with Relaxed the two race" },
    Lesson { mutant: "producer_typ_load_relaxed", kind: Kind::WeakMemory, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "the producer's typ load must be Acquire to synchronise with the consumer's Release, yet with Relaxed its write races with the consumer's read" },
    Lesson { mutant: "push_publish_relaxed", kind: Kind::WeakMemory, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "a push must publish head with Release, so a consumer that wins the index sees the value; with Relaxed the consumer reads a value whose write it has not seen" },
    Lesson { mutant: "pop_tail_without_cas", kind: Kind::Interleaving, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "a consumer owns index tail only after winning the CAS on head_tail; with a plain store two consumers take the same index, and one value is returned twice or lost" },
    Lesson { mutant: "chain_next_after_pop", kind: Kind::Interleaving, section: "4. `PoolChain`: unbounded, and freed without a GC",
        invariant: "a chain consumer must load next before its failed pop; loaded after, it may unlink a segment the producer refilled in between, and a value is lost" },
    Lesson { mutant: "free_unlinked_immediately", kind: Kind::Reclamation, section: "4. `PoolChain`: unbounded, and freed without a GC",
        invariant: "an unlinked segment may be freed only when no consumer can still be inside pop_tail on it" },
    Lesson { mutant: "pooled_chain_frees_unlinked", kind: Kind::Reclamation, section: "4.1 Inside a pool: unlinked segments go with their chain",
        invariant: "inside a pool, thieves announce nothing, so a chain may free an unlinked segment only with the whole chain, after the pool's grace period" },
    Lesson { mutant: "cleanup_frees_victim_early", kind: Kind::Reclamation, section: "6.2 Shared chains: generations by pointer swap, freed after a grace period",
        invariant: "a retired victim chain may be freed only after a grace period, when no pinned thread can still hold it" },
    Lesson { mutant: "gate_load_relaxed", kind: Kind::WeakMemory, section: "6.1 Private slots: a Dekker handshake with asymmetric fences",
        invariant: "the owner must read the gate with Acquire, so cleanup's rotation of its private fields happens-before the owner's next access" },
    Lesson { mutant: "gate_store_relaxed", kind: Kind::WeakMemory, section: "6.1 Private slots: a Dekker handshake with asymmetric fences",
        invariant: "cleanup must end its claim with a Release store, so its writes to the private fields happen-before the owner's next access" },
    Lesson { mutant: "fence_failure_ignored", kind: Kind::Interleaving, section: "6.4 When the kernel refuses the heavy fence",
        invariant: "after a refused heavy fence cleanup must not touch private fields: without the fence an owner inside an operation is invisible to it" },
    Lesson { mutant: "get_skips_victim", kind: Kind::Api, section: "5. `Pool`: slots, Get and Put",
        invariant: "Get must look in the victim generation before calling New" },
    Lesson { mutant: "steal_from_head", kind: Kind::Api, section: "5. `Pool`: slots, Get and Put",
        invariant: "a thief steals the oldest item (the tail), never the owner's newest" },
    Lesson { mutant: "drop_inside_operation", kind: Kind::Api, section: "5.1 The operation rule: no user code inside an operation",
        invariant: "no user code (T::drop) runs inside an operation" },
    Lesson { mutant: "fence_failure_unwinds", kind: Kind::Api, section: "6.4 When the kernel refuses the heavy fence",
        invariant: "a refused heavy fence must fail closed, never unwind out of a half-done cleanup" },
    Lesson { mutant: "cleanup_panic_stops_sweep", kind: Kind::Api, section: "6.6 Panics, `cleanup_all` and snapshots",
        invariant: "one panicking T::drop must neither stop the Sweeper nor skip the other pools" },
    Lesson { mutant: "snapshot_clones_under_lock", kind: Kind::Api, section: "6.6 Panics, `cleanup_all` and snapshots",
        invariant: "no user code (T::clone) runs under the cleanup lock" },
    Lesson { mutant: "fork_pins_block", kind: Kind::Api, section: "6.5 `fork`",
        invariant: "a thread lost to fork must not hold back the child's grace periods" },
];

/// The lesson of `mutant`, if it has one.
pub fn lesson(mutant: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.mutant == mutant)
}

/// The GitHub-style anchor of a DESIGN.md heading: `6.2 Shared chains: …`
/// gives `62-shared-chains-…`.
pub fn anchor(section: &str) -> String {
    section
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A link to the DESIGN.md section (absolute `file://` URL, with the
/// section's anchor).
pub fn design_link(root: &Path, section: &str) -> String {
    format!("file://{}/DESIGN.md#{}", root.display(), anchor(section))
}

pub fn wrapper(ctx: &Ctx, mutant: &str) -> Result<PathBuf, String> {
    let dir = ctx.out.join("explain/wrappers");
    let w = dir.join(mutant);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::copy(ctx.root.join("verification/mutant-rustc"), &w))
        .map_err(|e| format!("cannot install the mutant wrapper {}: {e}", w.display()))?;
    Ok(w)
}

/// The directory of explain's builds, runs and pages (absolute).
pub fn out_dir(ctx: &Ctx) -> Result<PathBuf, String> {
    let dir = ctx.out.join("explain");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    dir.canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))
}
