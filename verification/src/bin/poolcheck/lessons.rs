//! The lessons of `poolcheck explain`: one per mutant of the catalogue,
//! what kind of bug it shows, the rule it breaks and where DESIGN.md states
//! it; where lessons are built.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
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
    /// What goes wrong at the step where the bug happens, in one line (the
    /// lesson page shows it there).
    pub here: &'static str,
}

/// The lessons, in the order of verification/TOUR.md.
pub const LESSONS: &[Lesson] = &[
    Lesson { mutant: "consumer_clears_typ_first", here: "this consumer clears typ before reading the value: the producer may now overwrite the slot under its read", kind: Kind::Interleaving, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "typ-then-val: a slot's typ may be cleared only after its value was moved out, yet here the producer writes the slot while a consumer is still reading it" },
    Lesson { mutant: "producer_skips_typ_check", here: "the producer writes the slot without reading its typ: a consumer that won this index has not read it yet", kind: Kind::Interleaving, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "the producer may write a slot only after reading its typ clear, yet here it overwrites a slot a consumer has won but not yet read" },
    Lesson { mutant: "consumer_typ_store_relaxed", here: "typ cleared with Relaxed: the consumer's read of the value is not ordered before the producer's next write", kind: Kind::WeakMemory, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "the consumer's typ store must be Release so its read of the value happens-before the producer's next write, yet with Relaxed the two race" },
    Lesson { mutant: "producer_typ_load_relaxed", here: "typ read with Relaxed: seeing it clear does not order the consumer's read before this producer's write", kind: Kind::WeakMemory, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "the producer's typ load must be Acquire to synchronise with the consumer's Release, yet with Relaxed its write races with the consumer's read" },
    Lesson { mutant: "push_publish_relaxed", here: "head published with Relaxed: a consumer that wins this index need not see the value written before it", kind: Kind::WeakMemory, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "a push must publish head with Release, so a consumer that wins the index sees the value; with Relaxed the consumer reads a value whose write it has not seen" },
    Lesson { mutant: "pop_tail_without_cas", here: "tail taken with a plain store, not a CAS: this consumer takes the same index as another one did, and both read that slot", kind: Kind::Interleaving, section: "2. `PoolDequeue`: the SPMC ring",
        invariant: "a consumer owns index tail only after winning the CAS on head_tail; with a plain store two consumers take the same index, and one value is returned twice or lost" },
    Lesson { mutant: "chain_next_after_pop", here: "next loaded after the failed pop: the producer refilled the segment in between, and it is unlinked with a value in it", kind: Kind::Interleaving, section: "4. `PoolChain`: unbounded, and freed without a GC",
        invariant: "a chain consumer must load next before its failed pop; loaded after, it may unlink a segment the producer refilled in between, and a value is lost" },
    Lesson { mutant: "free_unlinked_immediately", here: "the unlinked segment is freed at once, while a consumer may still be inside pop_tail on it", kind: Kind::Reclamation, section: "4. `PoolChain`: unbounded, and freed without a GC",
        invariant: "an unlinked segment may be freed only when no consumer can still be inside pop_tail on it" },
    Lesson { mutant: "pooled_chain_frees_unlinked", here: "the pooled chain frees an unlinked segment that a thief may still be reading", kind: Kind::Reclamation, section: "4.1 Inside a pool: unlinked segments go with their chain",
        invariant: "inside a pool, thieves announce nothing, so a chain may free an unlinked segment only with the whole chain, after the pool's grace period" },
    Lesson { mutant: "cleanup_frees_victim_early", here: "the retired victim chain is freed before its grace period: a pinned thread still holds it", kind: Kind::Reclamation, section: "6.2 Shared chains: generations by pointer swap, freed after a grace period",
        invariant: "a retired victim chain may be freed only after a grace period, when no pinned thread can still hold it" },
    Lesson { mutant: "gate_load_relaxed", here: "the gate read with Relaxed: cleanup's writes to the private fields need not be visible to this owner", kind: Kind::WeakMemory, section: "6.1 Private slots: a Dekker handshake with asymmetric fences",
        invariant: "the owner must read the gate with Acquire, so cleanup's rotation of its private fields happens-before the owner's next access" },
    Lesson { mutant: "gate_store_relaxed", here: "cleanup ends its claim with a Relaxed store: its writes to the private fields are not ordered before the owner's next access", kind: Kind::WeakMemory, section: "6.1 Private slots: a Dekker handshake with asymmetric fences",
        invariant: "cleanup must end its claim with a Release store, so its writes to the private fields happen-before the owner's next access" },
    Lesson { mutant: "count_before_swap", here: "the owner catches up with this cleanup's count, yet its chain is not swapped yet", kind: Kind::Interleaving, section: "6.1 Private slots: a Dekker handshake with asymmetric fences",
        invariant: "cleanup publishes its count only after the slot's chain swap, so an owner that catches up with cleanup n sees cleanup n's swap; published first, the owner rotates its private fields on the other side of the cleanup from its chain" },
    Lesson { mutant: "fence_failure_ignored", here: "the heavy fence was refused, yet cleanup touches the private fields of an owner it cannot see", kind: Kind::Interleaving, section: "6.4 When the kernel refuses the heavy fence",
        invariant: "after a refused heavy fence cleanup must not touch private fields: without the fence an owner inside an operation is invisible to it" },
    Lesson { mutant: "get_skips_victim", here: "Get misses (and calls New) while the victim generation still holds an item", kind: Kind::Api, section: "5. `Pool`: slots, Get and Put",
        invariant: "Get must look in the victim generation before calling New" },
    Lesson { mutant: "steal_from_head", here: "the thief takes the owner's newest item, at the head, not the oldest", kind: Kind::Api, section: "5. `Pool`: slots, Get and Put",
        invariant: "a thief steals the oldest item (the tail), never the owner's newest" },
    Lesson { mutant: "drop_inside_operation", here: "T::drop runs inside the Put's operation", kind: Kind::Api, section: "5.1 The operation rule: no user code inside an operation",
        invariant: "no user code (T::drop) runs inside an operation" },
    Lesson { mutant: "fence_failure_unwinds", here: "the refused fence unwinds out of a half-done cleanup", kind: Kind::Api, section: "6.4 When the kernel refuses the heavy fence",
        invariant: "a refused heavy fence must fail closed, never unwind out of a half-done cleanup" },
    Lesson { mutant: "cleanup_panic_stops_sweep", here: "one T::drop panics and the sweep stops there", kind: Kind::Api, section: "6.6 Panics, `cleanup_all` and snapshots",
        invariant: "one panicking T::drop must neither stop the Sweeper nor skip the other pools" },
    Lesson { mutant: "snapshot_clones_under_lock", here: "T::clone runs while the cleanup lock is held", kind: Kind::Api, section: "6.6 Panics, `cleanup_all` and snapshots",
        invariant: "no user code (T::clone) runs under the cleanup lock" },
    Lesson { mutant: "slot_cache_survives_release", here: "the thread reaches a slot through its cache after releasing that slot's id", kind: Kind::Api, section: "5.2 The slot cache",
        invariant: "a thread's cached slots must go with its id: after release_thread_slot the slot is another thread's" },
    Lesson { mutant: "slot_cache_survives_id_change", here: "the thread leased a new id, yet its cache still names the old id's slot", kind: Kind::Api, section: "5.2 The slot cache",
        invariant: "the slot cache holds slots of the thread's current id only, so a new id empties it" },
    Lesson { mutant: "slot_cache_keyed_by_address", here: "a pool built where a dropped one was matches the dropped pool's cache entry", kind: Kind::Api, section: "5.2 The slot cache",
        invariant: "a pool key is never reused, so no entry of a dropped pool matches a pool built later at the same address" },
    Lesson { mutant: "fork_loses_own_ids", here: "the fork child counts the forking thread's own id, whose slots its cache names, as lost", kind: Kind::Api, section: "5.2 The slot cache",
        invariant: "a fork child keeps the forking thread's ids as its own, so the slots its cache names stay a live thread's" },
    Lesson { mutant: "fork_pins_block", here: "the pin of a thread lost to fork holds back the child's grace periods", kind: Kind::Api, section: "6.5 `fork`",
        invariant: "a thread lost to fork must not hold back the child's grace periods" },
    Lesson { mutant: "ref_victim_before_steal", here: "the reference takes from the victim while another slot's shared queue still holds items", kind: Kind::Api, section: "5. `Pool`: slots, Get and Put",
        invariant: "Get steals from every other slot's primary shared queue before it looks at the victim generation (Go's getSlow)" },
    Lesson { mutant: "fork_loses_handle_ids", here: "the child counts an id its one thread still holds through a LocalHandle as lost", kind: Kind::Api, section: "6.5 `fork`",
        invariant: "every id the forking thread holds, a LocalHandle's included, is its own in the child: only other threads' ids are lost" },
    Lesson { mutant: "stats_lock_without_gate", here: "stats holds the pool's lock outside the fork gate while another thread forks", kind: Kind::Api, section: "6.5 `fork`",
        invariant: "every lock is taken by the fork's prepare handler or only under the fork gate, so a child never inherits one held" },
    Lesson { mutant: "sweep_upgrades_outside_gate", here: "a sweep holds a pool outside the fork gate while another thread forks", kind: Kind::Api, section: "6.5 `fork`",
        invariant: "a sweep holds a pool only under the fork gate, so a child never inherits a reference nobody gives back" },
    Lesson { mutant: "cleanup_thread_drops_items", here: "the cleanup thread runs a T::drop that blocks", kind: Kind::Api, section: "6.7 Automatic cleanup, and who may hold a pool",
        invariant: "the cleanup thread runs no user code: released items are dropped by a worker, so one blocking T::drop delays no other pool" },
    Lesson { mutant: "dead_cleanup_worker_stays", here: "a panic payload's drop panics and the drop worker dies", kind: Kind::Api, section: "6.7 Automatic cleanup, and who may hold a pool",
        invariant: "a drop worker that dies or is stuck is replaced, and a panic payload's own panic is contained" },
    Lesson { mutant: "tick_never_recovers", here: "the tick stays at the shortest interval of a pool that is gone", kind: Kind::Api, section: "6.7 Automatic cleanup, and who may hold a pool",
        invariant: "the cleanup thread's tick follows the pools alive now, and with none it does not wake" },
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

/// A link to the DESIGN.md section from a page in `page_dir`: relative,
/// with the section's anchor.
pub fn design_link(root: &Path, page_dir: &Path, section: &str) -> String {
    format!(
        "{}#{}",
        relative(page_dir, &root.join("DESIGN.md")),
        anchor(section)
    )
}

/// The path of `to` relative to the directory `from` (both made absolute),
/// with `/` separators, for links between local files.
pub fn relative(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| {
        p.canonicalize().unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        })
    };
    let (from, to) = (abs(from), abs(to));
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
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

/// Runs `cmd` (a cargo build or test) with both output streams going to
/// `log` as they come (the log exists from the start), and shows where it
/// is: the crates compiled so far, then the run, with the time spent; a
/// spinner on a terminal, else a line per phase and one every 30 s. Kills
/// it after `timeout`. Returns its exit status (`None`: timed out) and the
/// log's text.
pub fn run_logged(
    mut cmd: Command,
    log: &Path,
    what: &str,
    timeout: Duration,
) -> Result<(Option<ExitStatus>, String), String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    // One open file for both streams: they share its offset and interleave.
    let file2 = file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = cmd
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(file2))
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let start = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut phase = String::new();
    let mut last_line = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let now = phase_of(&text);
        let secs = start.elapsed().as_secs();
        match &bar {
            Some(bar) => bar.set_message(format!("{what}: {now} ({secs} s)")),
            None if now != phase || last_line.elapsed() > Duration::from_secs(30) => {
                // A new phase, or a heartbeat: the crate count moves often,
                // so only its kind counts as a new phase.
                let kind = |p: &str| p.split(':').next().unwrap_or("").to_string();
                if kind(&now) != kind(&phase) || last_line.elapsed() > Duration::from_secs(30) {
                    eprintln!("poolcheck explain: {what}: {now} ({secs} s)");
                    last_line = Instant::now();
                }
                phase = now;
            }
            None => {}
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    eprintln!(
        "poolcheck explain: {what}: {} after {} s",
        match status {
            Some(s) if s.success() => "done".to_string(),
            Some(s) => format!("ended with {s}"),
            None => "timed out".to_string(),
        },
        start.elapsed().as_secs()
    );
    Ok((status, std::fs::read_to_string(log).unwrap_or_default()))
}

/// Where a cargo build-and-run is, from its output so far.
fn phase_of(text: &str) -> String {
    let compiled = text
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .count();
    let last = |prefix: &str| {
        text.lines()
            .rev()
            .map(str::trim_start)
            .find(|l| l.starts_with(prefix))
            .map(|l| {
                l[prefix.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
    };
    if text
        .lines()
        .any(|l| l.trim_start().starts_with("Finished "))
    {
        match last("Running ") {
            Some(_) => "running the test".to_string(),
            None => "built".to_string(),
        }
    } else if compiled > 0 {
        format!(
            "building: {compiled} crates compiled, now {}",
            last("Compiling ").unwrap_or_default()
        )
    } else {
        "starting cargo".to_string()
    }
}
