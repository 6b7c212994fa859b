//! `poolcheck explain [MUTANT]`: every protocol rule as a runnable lesson.
//!
//! With a mutant of `verification/mutants.txt` whose checker is loom or
//! shuttle, builds that mutant, runs the checker's test with the facade's
//! recorder on (`VICTIM_POOL_TRACE`, see `trace` in `src/sync.rs`), reads
//! the trace of the failing execution and draws it: one column per thread
//! in the terminal, and a self-contained HTML page with swimlanes, a step
//! slider and the ring's state after each step. See verification/TOUR.md.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::mutants::{catalogue, Mutant};
use crate::Ctx;

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
    Lesson { mutant: "slot_cache_survives_release", kind: Kind::Api, section: "5.2 The slot cache",
        invariant: "a thread's cached slots must go with its id: after release_thread_slot the slot is another thread's" },
    Lesson { mutant: "slot_cache_survives_id_change", kind: Kind::Api, section: "5.2 The slot cache",
        invariant: "the slot cache holds slots of the thread's current id only, so a new id empties it" },
    Lesson { mutant: "slot_cache_keyed_by_address", kind: Kind::Api, section: "5.2 The slot cache",
        invariant: "a pool key is never reused, so no entry of a dropped pool matches a pool built later at the same address" },
    Lesson { mutant: "fork_pins_block", kind: Kind::Api, section: "6.5 `fork`",
        invariant: "a thread lost to fork must not hold back the child's grace periods" },
];

/// The lesson of `mutant`, if it has one.
pub fn lesson(mutant: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.mutant == mutant)
}

/// Whether `poolcheck explain` can draw a mutant killed by `m.tool`:
/// loom and shuttle (the recorder's trace), the differential test (the
/// shrunk diverging history, step by step) and a test (the calls down to
/// each panic of the failing run).
fn drawn(m: &Mutant) -> bool {
    matches!(
        m.tool.as_str(),
        "loom" | "shuttle" | "differential" | "test"
    )
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

/// `poolcheck explain` without a name: the lessons.
pub fn list(ctx: &Ctx) -> Result<i32, String> {
    let all = catalogue(&ctx.root)?;
    println!("Lessons (poolcheck explain NAME; the tour: verification/TOUR.md):");
    for m in &all {
        let kind = lesson(&m.name).map_or("?".to_string(), |l| format!("{:?}", l.kind));
        if drawn(m) {
            println!("  {:<28} {:<13} {:<12} {}", m.name, kind, m.tool, m.rule);
        } else {
            println!(
                "  {:<28} {:<13} {:<12} not drawn: killed by {} ({}), which gives no trace",
                m.name, kind, m.tool, m.tool, m.test
            );
        }
    }
    Ok(0)
}

/// One object of a trace.
#[derive(Clone, Debug, Serialize)]
pub struct Object {
    /// Display name (`slot[1].occupied`, `dequeue.head_tail`, …).
    pub name: String,
    /// `AtomicU64`, `UnsafeCell`, …
    pub kind: String,
    /// Where it was created (`src/dequeue.rs:117`).
    pub at: String,
    /// Initial value.
    pub init: Option<u64>,
}

/// One event of a trace.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Step number (0-based).
    pub step: usize,
    /// The checker's thread number.
    pub thread: usize,
    /// Index into the objects (`None` for a fence).
    pub obj: Option<usize>,
    /// Operation: load, store, swap, cas-ok, cas-fail, fetch_add, …, fence,
    /// cell-read, cell-write.
    pub op: String,
    /// Memory ordering (`-` for cells).
    pub ordering: String,
    /// Value read (loads, RMWs, failed CAS) or written (stores, cells).
    pub value: Option<u64>,
    /// Value written by an RMW / successful CAS.
    pub value2: Option<u64>,
    /// Source line of the operation.
    pub at: String,
    /// The text of that line.
    pub code: String,
    /// A load that returned an older value than the object's latest store.
    pub stale: bool,
    /// The latest stored value when `stale`.
    pub latest: Option<u64>,
    /// Part of the data race that ended the execution.
    pub racing: bool,
    /// A `free` event: every object it dropped (a segment or a chain drops
    /// all its objects at once; they are drawn as one event).
    pub freed: Vec<usize>,
    /// A use after free: an access to an object already dropped, or the
    /// `free` that dropped an object accessed later.
    pub uaf: bool,
    /// One-line rendering.
    pub text: String,
}

/// A ring's state after a step.
#[derive(Clone, Debug, Serialize)]
pub struct Ring {
    /// Name (`dequeue` or `seg0`, …).
    pub name: String,
    /// head (as a signed offset when near 2^32).
    pub head: i64,
    /// tail.
    pub tail: i64,
    /// Per slot: typ set?
    pub typ: Vec<bool>,
    /// Per slot: last value written (if known).
    pub value: Vec<Option<u64>>,
    /// The ring has been freed by this step.
    pub freed: bool,
}

/// A parsed trace.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    /// The objects.
    pub objects: Vec<Object>,
    /// The events, in schedule order.
    pub events: Vec<Event>,
    /// The panic that ended the execution.
    pub panic: String,
    /// The rings after each step (`rings[i]` after event `i`).
    pub rings: Vec<Vec<Ring>>,
    /// Thread numbers seen.
    pub threads: Vec<usize>,
    /// A name for each of `threads` (the test's thread names), or empty
    /// (then `thread N`).
    pub thread_names: Vec<String>,
}

impl Trace {
    /// The lane title of thread `t`.
    pub fn thread_name(&self, t: usize) -> String {
        self.threads
            .iter()
            .position(|&x| x == t)
            .and_then(|i| self.thread_names.get(i))
            .cloned()
            .unwrap_or_else(|| format!("thread {t}"))
    }
}

fn opt(s: &str) -> Option<u64> {
    s.parse().ok()
}

pub fn source_line(root: &Path, at: &str) -> String {
    let Some((file, line)) = at.rsplit_once(':') else {
        return String::new();
    };
    let Ok(n) = line.parse::<usize>() else {
        return String::new();
    };
    std::fs::read_to_string(root.join(file))
        .ok()
        .and_then(|t| {
            t.lines()
                .nth(n.saturating_sub(1))
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_default()
}

/// The field an object was created for: `occupied: AtomicBool::new(false),`
/// gives `occupied`.
fn field(code: &str) -> Option<String> {
    let (name, _) = code.split_once(':')?;
    let name = name.trim();
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| name.to_string())
}

/// A u32 index near 2^32 as a small signed number (`u32::MAX - 1` is -2).
fn index(v: u32) -> i64 {
    i64::from(v as i32)
}

/// Parses the file written by the recorder and derives names, stale loads,
/// racing accesses and ring states.
pub fn parse(text: &str, root: &Path) -> Result<Trace, String> {
    let mut objects = Vec::new();
    let mut raw = Vec::new();
    let mut panic = String::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.first() {
            Some(&"O") if f.len() == 5 => objects.push(Object {
                name: String::new(),
                kind: f[2].to_string(),
                at: f[3].to_string(),
                init: opt(f[4]),
            }),
            Some(&"E") if f.len() == 8 => raw.push(f),
            Some(&"P") => panic = f.get(1).unwrap_or(&"").to_string(),
            _ => {}
        }
    }
    if raw.is_empty() {
        return Err("the trace holds no event".to_string());
    }
    // Names: the field on the creation line; rings are found by their
    // `head_tail` (created after their slots).
    let mut same_loc: HashMap<String, usize> = HashMap::new();
    let mut rings: Vec<(usize, Vec<usize>, Vec<usize>)> = Vec::new(); // head_tail, occupied, value
    let (mut pend_occ, mut pend_val) = (Vec::new(), Vec::new());
    for (id, o) in objects.iter_mut().enumerate() {
        let code = source_line(root, &o.at);
        let fieldname = field(&code).unwrap_or_else(|| format!("obj{id}"));
        let k = same_loc.entry(o.at.clone()).or_insert(0);
        let file =
            o.at.rsplit('/')
                .next()
                .unwrap_or("")
                .split('.')
                .next()
                .unwrap_or("");
        o.name = match (file, fieldname.as_str()) {
            ("dequeue", "occupied") => {
                pend_occ.push(id);
                format!("slot[{}].occupied", pend_occ.len() - 1)
            }
            ("dequeue", "value") => {
                pend_val.push(id);
                format!("slot[{}].value", pend_val.len() - 1)
            }
            ("dequeue", "head_tail") => {
                rings.push((
                    id,
                    std::mem::take(&mut pend_occ),
                    std::mem::take(&mut pend_val),
                ));
                "dequeue.head_tail".to_string()
            }
            ("slot", f) => format!("local[{k}].{f}"),
            // A chain's segment links, created with segment `k`.
            ("chain", f @ ("next" | "prev")) => format!("seg{k}.{f}"),
            (file, f) if *k > 0 => format!("{file}.{f}#{k}"),
            (file, f) => format!("{file}.{f}"),
        };
        *k += 1;
    }
    if rings.len() > 1 {
        for (r, (ht, occ, val)) in rings.iter().enumerate() {
            for &id in occ.iter().chain(val).chain([ht]) {
                objects[id].name = format!("seg{r}.{}", objects[id].name.replace("dequeue.", ""));
            }
        }
    }
    // A run of `free` events of one thread at one line (a segment or a
    // chain dropping its objects) is one event.
    let mut grouped: Vec<(Vec<&str>, Vec<usize>)> = Vec::new();
    for f in raw {
        let obj: Option<usize> = f[2].parse().ok().filter(|&o: &usize| o < objects.len());
        if f[3] == "free" {
            if let Some(last) = grouped.last_mut() {
                if last.0[3] == "free" && last.0[1] == f[1] && last.0[7] == f[7] {
                    last.1.extend(obj);
                    continue;
                }
            }
        }
        grouped.push((f, obj.into_iter().collect()));
    }
    // Events, with each object's latest stored value in schedule order.
    let mut latest: Vec<Option<u64>> = objects.iter().map(|o| o.init).collect();
    let mut freed_by: Vec<Option<usize>> = vec![None; objects.len()];
    let mut events: Vec<Event> = Vec::new();
    let mut ring_states = Vec::new();
    let mut threads = Vec::new();
    for (step, (f, group)) in grouped.iter().enumerate() {
        let thread: usize = f[1].parse().unwrap_or(0);
        if !threads.contains(&thread) {
            threads.push(thread);
        }
        let obj: Option<usize> = f[2].parse().ok().filter(|&o: &usize| o < objects.len());
        let (op, ordering) = (f[3].to_string(), f[4].to_string());
        let (value, value2) = (opt(f[5]), opt(f[6]));
        let mut stale = false;
        let mut last = None;
        if let Some(o) = obj {
            match op.as_str() {
                "load" | "cas-fail" => {
                    if value.is_some() && latest[o].is_some() && value != latest[o] {
                        stale = true;
                        last = latest[o];
                    }
                }
                "store" | "cell-write" => latest[o] = value,
                "cell-read" => {}
                _ => latest[o] = value2.or(latest[o]),
            }
        }
        let mut uaf = false;
        let mut freed = Vec::new();
        if op == "free" {
            freed.clone_from(group);
            for &o in group {
                freed_by[o] = Some(step);
            }
        } else if let Some(free) = obj.and_then(|o| freed_by[o]) {
            // Touched by another thread after its drop began (the thread
            // that drops it may still read it): this access and that free.
            if events[free].thread != thread {
                uaf = true;
                events[free].uaf = true;
            }
        }
        let at = f[7].to_string();
        let code = source_line(root, &at);
        events.push(Event {
            step,
            thread,
            obj,
            op,
            ordering,
            value,
            value2,
            code,
            at,
            stale,
            latest: last,
            racing: false,
            freed,
            uaf,
            text: String::new(),
        });
        ring_states.push(
            rings
                .iter()
                .enumerate()
                .map(|(r, (ht, occ, val))| {
                    let v = latest[*ht].unwrap_or(0);
                    Ring {
                        name: if rings.len() > 1 {
                            format!("seg{r}")
                        } else {
                            "dequeue".to_string()
                        },
                        head: index((v >> 32) as u32),
                        tail: index(v as u32),
                        typ: occ.iter().map(|&o| latest[o] == Some(1)).collect(),
                        value: val.iter().map(|&o| latest[o]).collect(),
                        freed: freed_by[*ht].is_some(),
                    }
                })
                .collect(),
        );
    }
    // A data race reported by loom ends the execution at the access that
    // raced (recorded before loom checked it): mark it and the latest
    // access of another thread to the same cell.
    if panic.contains("Causality violation") || panic.contains("data race") {
        if let Some(last) = events.last_mut() {
            last.racing = true;
        }
        let (t, o) = events
            .last()
            .map(|e| (e.thread, e.obj))
            .unwrap_or((0, None));
        if let Some(e) = events
            .iter_mut()
            .rev()
            .skip(1)
            .find(|e| e.obj == o && e.thread != t && e.op.starts_with("cell"))
        {
            e.racing = true;
        }
    }
    for e in &mut events {
        e.text = describe(e, &objects);
    }
    threads.sort_unstable();
    // The core names objects by number ("use after free of object 8 (…"):
    // give them their names.
    let panic = name_objects(&panic, &objects);
    Ok(Trace {
        objects,
        events,
        panic,
        rings: ring_states,
        threads,
        thread_names: Vec::new(),
    })
}

/// `object N` in a checker message, with the object's name.
fn name_objects(message: &str, objects: &[Object]) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = rest.find("object ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "object ".len()..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        match digits.parse::<usize>().ok().and_then(|n| objects.get(n)) {
            Some(o) => out.push_str(&o.name),
            None => out.push_str(&format!("object {digits}")),
        }
        rest = &after[digits.len()..];
    }
    out.push_str(rest);
    out
}

/// What a `free` dropped: `seg0 (19 objects)`, or the names when few.
fn freed_names(freed: &[usize], objects: &[Object]) -> String {
    let mut groups: Vec<String> = Vec::new();
    for &o in freed {
        let name = &objects[o].name;
        let group = match name.split('.').next().unwrap_or(name) {
            // The slots of the one ring of a trace.
            slot if slot.starts_with("slot[") => "dequeue".to_string(),
            group => group.to_string(),
        };
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    if freed.len() <= 2 {
        let names: Vec<&str> = freed.iter().map(|&o| objects[o].name.as_str()).collect();
        names.join(", ")
    } else {
        format!("{} ({} objects)", groups.join(", "), freed.len())
    }
}

fn show(v: u64, obj: &Object) -> String {
    if obj.name.ends_with("head_tail") {
        format!("h{} t{}", index((v >> 32) as u32), index(v as u32))
    } else if obj.kind == "AtomicPtr" {
        if v == 0 {
            "null".to_string()
        } else {
            format!("@{:x}", v & 0xfff)
        }
    } else if obj.kind == "AtomicBool" {
        (v != 0).to_string()
    } else {
        v.to_string()
    }
}

fn short(ordering: &str) -> &str {
    match ordering {
        "Relaxed" => "Rlx",
        "Acquire" => "Acq",
        "Release" => "Rel",
        "AcqRel" => "AcqRel",
        "SeqCst" => "SC",
        other => other,
    }
}

fn describe(e: &Event, objects: &[Object]) -> String {
    if e.op == "free" {
        return format!("free {}", freed_names(&e.freed, objects));
    }
    let Some(o) = e.obj.map(|o| &objects[o]) else {
        return format!("fence {}", short(&e.ordering));
    };
    let sv = |v: Option<u64>| v.map_or("?".to_string(), |v| show(v, o));
    let name = &o.name;
    let ord = short(&e.ordering);
    let mut s = match e.op.as_str() {
        "load" => format!("load {name} {ord} = {}", sv(e.value)),
        "store" => format!("store {name} {ord} := {}", sv(e.value)),
        "cas-ok" => format!("CAS {name} {ord} -> {}", sv(e.value2)),
        "cas-fail" => format!("CAS fail {name} {ord} saw {}", sv(e.value)),
        "use-after-free" => format!("{} {name}: USE AFTER FREE", e.ordering),
        "cell-read" => format!("read {name}"),
        "cell-write" => match e.value {
            Some(v) => format!("write {name} := {v}"),
            None => format!("write {name}"),
        },
        op => format!("{op} {name} {ord} -> {}", sv(e.value2)),
    };
    if e.stale {
        let _ = write!(s, " STALE (latest {})", sv(e.latest));
    }
    if e.racing {
        s.push_str(" RACE");
    }
    if e.uaf && e.op != "use-after-free" {
        s.push_str(" (freed)");
    }
    s
}

/// The terminal picture: one column per thread, time downward.
pub fn terminal(trace: &Trace, lesson: Option<&Lesson>, rule: &str, color: bool) -> String {
    const W: usize = 44;
    let paint = |s: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let _ = write!(out, "{:>4} ", "step");
    for &t in &trace.threads {
        let mut name = trace.thread_name(t);
        name.truncate(W - 2);
        let _ = write!(out, "{name:<W$}");
    }
    out.push('\n');
    let col = |t: usize| trace.threads.iter().position(|&x| x == t).unwrap_or(0);
    for e in &trace.events {
        let mut text = e.text.clone();
        if text.chars().count() > W - 2 {
            text = text.chars().take(W - 3).collect::<String>() + "…";
        }
        let pad = " ".repeat(col(e.thread) * W);
        let cell = format!("{text:<W$}");
        let cell = if e.racing || e.uaf {
            paint(&cell, "1;31")
        } else if e.stale {
            paint(&cell, "1;33")
        } else {
            cell
        };
        let _ = writeln!(
            out,
            "{:>4} {pad}{}  {}",
            e.step,
            cell.trim_end(),
            paint(&e.at, "2")
        );
    }
    let broke = lesson.map_or(rule, |l| l.invariant);
    let _ = writeln!(
        out,
        "{}",
        paint(&format!("  ✗ broken here: {broke}."), "1;31")
    );
    if let Some(l) = lesson {
        let _ = writeln!(out, "    rule: {rule} (DESIGN.md §{})", l.section);
    }
    let _ = writeln!(out, "    checker: {}", trace.panic);
    out
}

/// The self-contained HTML page.
pub fn html(trace: &Trace, m: &Mutant, lesson: Option<&Lesson>, root: &Path) -> String {
    #[derive(Serialize)]
    struct Data<'a> {
        mutant: &'a str,
        checker: &'a str,
        test: &'a str,
        rule: &'a str,
        invariant: &'a str,
        kind: String,
        section: &'a str,
        design: String,
        /// The DESIGN.md section's text (the page is self-contained).
        design_text: String,
        /// Per source line of an event (`src/chain.rs:334`): the first line
        /// number shown and the lines around it.
        sources: BTreeMap<String, (usize, Vec<String>)>,
        trace: &'a Trace,
    }
    let mut files: HashMap<String, Vec<String>> = HashMap::new();
    let mut sources = BTreeMap::new();
    for e in &trace.events {
        let Some((file, line)) = e.at.rsplit_once(':') else {
            continue;
        };
        let Ok(n) = line.parse::<usize>() else {
            continue;
        };
        let text = files.entry(file.to_string()).or_insert_with(|| {
            std::fs::read_to_string(root.join(file))
                .map(|t| t.lines().map(str::to_string).collect())
                .unwrap_or_default()
        });
        if n == 0 || n > text.len() {
            continue;
        }
        let first = n.saturating_sub(CONTEXT + 1);
        let last = (n + CONTEXT).min(text.len());
        sources
            .entry(e.at.clone())
            .or_insert_with(|| (first + 1, text[first..last].to_vec()));
    }
    let section = lesson.map_or("", |l| l.section);
    let data = Data {
        mutant: &m.name,
        checker: &m.tool,
        test: &m.test,
        rule: &m.rule,
        invariant: lesson.map_or("", |l| l.invariant),
        kind: lesson.map_or("?".to_string(), |l| format!("{:?}", l.kind)),
        section: lesson.map_or("", |l| l.section),
        design: design_link(root, section),
        design_text: design_section(root, section),
        sources,
        trace,
    };
    let json = serde_json::to_string(&data)
        .unwrap_or_else(|_| "null".to_string())
        .replace("</", "<\\/");
    PAGE.replace("/*DATA*/null", &json)
}

/// Lines shown on each side of an event's source line.
const CONTEXT: usize = 4;

/// The text of a DESIGN.md section (its heading to the next heading of the
/// same or a higher level), at most 80 lines.
fn design_section(root: &Path, section: &str) -> String {
    let Ok(text) = std::fs::read_to_string(root.join("DESIGN.md")) else {
        return String::new();
    };
    let mut out = Vec::new();
    let mut level = 0;
    for line in text.lines() {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        let heading = hashes > 0 && line[hashes..].starts_with(' ');
        if level == 0 {
            if heading && line[hashes..].trim() == section {
                level = hashes;
                out.push(line);
            }
            continue;
        }
        if heading && hashes <= level {
            break;
        }
        out.push(line);
    }
    if out.len() > 80 {
        out.truncate(80);
        out.push("…");
    }
    out.join("\n")
}

pub fn wrapper(ctx: &Ctx, mutant: &str) -> Result<PathBuf, String> {
    let dir = ctx.out.join("explain/wrappers");
    let w = dir.join(mutant);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::copy(ctx.root.join("verification/mutant-rustc"), &w))
        .map_err(|e| format!("cannot install the mutant wrapper {}: {e}", w.display()))?;
    Ok(w)
}

/// Renders an existing trace file (no build): `--trace FILE`.
pub fn render(ctx: &Ctx, m: &Mutant, trace_file: &Path, html_out: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(trace_file)
        .map_err(|e| format!("cannot read {}: {e}", trace_file.display()))?;
    let trace = parse(&text, &ctx.root)?;
    draw(ctx, m, &trace, html_out)
}

/// Prints the terminal picture of `trace` and writes its page.
pub fn draw(ctx: &Ctx, m: &Mutant, trace: &Trace, html_out: &Path) -> Result<i32, String> {
    let lesson = lesson(&m.name);
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout());
    println!(
        "lesson {} ({}: {}): {}",
        m.name,
        m.tool,
        m.test,
        lesson.map_or("", |l| l.section)
    );
    print!("{}", terminal(trace, lesson, &m.rule, color));
    std::fs::write(html_out, html(trace, m, lesson, &ctx.root))
        .map_err(|e| format!("cannot write {}: {e}", html_out.display()))?;
    println!("page: {}", html_out.display());
    Ok(0)
}

/// Where the checker's build of a lesson goes: `$POOLCHECK_CHECKER_TARGET_DIR/<tool>`
/// when set (the verification tier points it at its own loom and shuttle
/// dirs, built with the same line tables, so their dependencies are
/// reused), else beside the lesson's files.
fn checker_target_dir(dir: &Path, tool: &str) -> PathBuf {
    std::env::var_os("POOLCHECK_CHECKER_TARGET_DIR")
        .map_or_else(|| dir.to_path_buf(), PathBuf::from)
        .join(tool)
}

/// `poolcheck explain MUTANT`.
pub fn explain(ctx: &Ctx, name: &str, html_out: Option<PathBuf>) -> Result<i32, String> {
    let all = catalogue(&ctx.root)?;
    let m = all
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| {
            let names: Vec<_> = all.iter().map(|m| m.name.as_str()).collect();
            format!("unknown mutant {name:?}; known: {}", names.join(" "))
        })?
        .clone();
    if !drawn(&m) {
        println!(
            "{}: killed by {} ({}); its trace is not drawn (only loom and shuttle runs are traced). Rule: {}",
            m.name, m.tool, m.test, m.rule
        );
        return Ok(0);
    }
    match m.tool.as_str() {
        "differential" => return explain_differential(ctx, &m, html_out),
        "test" => return crate::explain_test::explain(ctx, &m, html_out),
        _ => {}
    }
    let dir = ctx.out.join("explain");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Absolute: the test binary runs in the verification crate's directory.
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
    let trace_file = dir.join(format!("{}.trace", m.name));
    let log = dir.join(format!("{}.log", m.name));
    let _ = std::fs::remove_file(&trace_file);
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&ctx.root)
        .args([
            "test",
            "-q",
            "-p",
            "victim-pool-verification",
            "--release",
            "--test",
        ])
        .arg(&m.tool)
        .args(["--", "--exact", &m.test])
        .env("CARGO_TARGET_DIR", checker_target_dir(&dir, &m.tool))
        .env("RUSTC_WORKSPACE_WRAPPER", wrapper(ctx, &m.name)?)
        .env("RUSTFLAGS", format!("--cfg {}", m.tool))
        .env("VICTIM_POOL_TRACE", &trace_file)
        // Line tables, so that a `free` names the line of the core that
        // dropped the object (a backtrace in the recorder).
        .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only")
        .env("LOOM_MAX_PREEMPTIONS", ctx.loom_bound.to_string())
        .env("SHUTTLE_SECS", ctx.shuttle_secs.to_string());
    eprintln!(
        "poolcheck explain: building {} and running {} {} with tracing (log: {})",
        m.name,
        m.tool,
        m.test,
        log.display()
    );
    let output = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::write(&log, &text);
    if output.status.success() {
        println!(
            "{}: SURVIVED: {} {} passed, so there is no failing execution to draw",
            m.name, m.tool, m.test
        );
        return Ok(1);
    }
    if !trace_file.is_file() {
        return Err(format!(
            "{} failed but wrote no trace (a build error?); see {}",
            m.name,
            log.display()
        ));
    }
    let html_out = html_out.unwrap_or_else(|| dir.join(format!("{}.html", m.name)));
    render(ctx, &m, &trace_file, &html_out)
}

/// The directory of explain's builds, runs and pages (absolute).
pub fn out_dir(ctx: &Ctx) -> Result<PathBuf, String> {
    let dir = ctx.out.join("explain");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    dir.canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))
}

/// A mutant killed by the differential test: this binary, built as the
/// mutant, searches sequential histories (the generator and the reference
/// comparison of `poolcheck fuzz`) for one that diverges, shrinks it, saves
/// it, and draws it step by step with `poolcheck replay`'s page (lock-free
/// and reference results, both states after each step, the step that
/// diverges). A normal build first builds itself as the mutant and runs
/// that.
fn explain_differential(ctx: &Ctx, m: &Mutant, html_out: Option<PathBuf>) -> Result<i32, String> {
    const BUDGET: std::time::Duration = std::time::Duration::from_secs(60);
    let dir = out_dir(ctx)?;
    let html_out = html_out.unwrap_or_else(|| dir.join(format!("{}.html", m.name)));
    if crate::fuzz::built_mutant().as_deref() == Some(m.name.as_str()) {
        crate::quiet_panics();
        let start = std::time::Instant::now();
        for seed in 0u64.. {
            if start.elapsed() > BUDGET {
                println!(
                    "{}: SURVIVED: {seed} sequential histories in {:.0?} agree with the reference, so there is no divergence to draw",
                    m.name,
                    start.elapsed()
                );
                return Ok(1);
            }
            let (_, Some(failure)) = crate::fuzz::one(seed, false) else {
                continue;
            };
            let failures = dir.join(format!("{}.failures", m.name));
            let _ = std::fs::remove_dir_all(&failures);
            let file = crate::fuzz::save(&failures, &failure)?;
            println!(
                "lesson {} (differential: the lock-free pool against the reference): history {seed} diverges, shrunk to {} steps",
                m.name,
                failure.history.as_ref().map_or(0, |h| h.steps.len())
            );
            crate::replay::replay(&file, Some(html_out.clone()), 1)?;
            println!("page: {}", html_out.display());
            return Ok(0);
        }
    }
    let target = dir.join("differential");
    let log = dir.join(format!("{}.log", m.name));
    eprintln!(
        "poolcheck explain: building poolcheck as {} (log: {})",
        m.name,
        log.display()
    );
    let output = Command::new("cargo")
        .current_dir(&ctx.root)
        .args([
            "build",
            "-q",
            "--release",
            "-p",
            "victim-pool-verification",
            "--bin",
            "poolcheck",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTC_WORKSPACE_WRAPPER", wrapper(ctx, &m.name)?)
        .env("VICTIM_POOL_MUTANT", &m.name)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::write(&log, &text);
    if !output.status.success() {
        return Err(format!(
            "building poolcheck as {} failed; see {}",
            m.name,
            log.display()
        ));
    }
    let status = Command::new(target.join("release/poolcheck"))
        .current_dir(&ctx.root)
        .env("POOLCHECK_TARGET_DIR", &ctx.out)
        .arg("explain")
        .arg(&m.name)
        .arg("--html")
        .arg(&html_out)
        .status()
        .map_err(|e| format!("cannot run the mutant's poolcheck: {e}"))?;
    Ok(status.code().unwrap_or(1))
}

/// The lesson page (no external resources): the data is substituted for
/// `/*DATA*/null`.
const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>poolcheck explain</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
header{background:#1d2b3a;color:#fff;padding:10px 16px}
header h1{font-size:17px;margin:0 0 4px}
header .rule{font-size:14px;color:#ffd7d7}
header .meta{font-size:12px;color:#b8c7d8}
header a{color:#9cc7ff}
.controls{display:flex;gap:8px;align-items:center;padding:8px 16px;background:#e9edf2}
input[type=range]{flex:1}
button{font-size:14px;padding:3px 10px}
main{display:flex;gap:12px;padding:10px 16px}
#lanes{flex:1;min-width:0;max-height:74vh;overflow:auto;background:#fff;border:1px solid #d5dae1;border-radius:6px}
table{border-collapse:collapse;font-family:monospace;font-size:12px;width:100%;table-layout:fixed}
th{position:sticky;top:0;background:#eef2f7;border-bottom:1px solid #c9d1da;padding:4px 6px;text-align:left;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
th:first-child{width:34px}
td{padding:2px 6px;border-bottom:1px solid #f0f2f5;vertical-align:top;white-space:normal;word-break:break-word}
td .at{display:block;font-size:10px}
td .at a{color:#889}
td.step{color:#99a;width:32px}
td.ev{background:#eef6ff;border-left:3px solid #4a7fc1;cursor:pointer}
tr.future td.ev{opacity:.35}
tr.cur td{background:#fff7c2}
td.ev.stale{background:#fff0c2;border-left-color:#d08a00}
td.ev.race{background:#ffe3e6;border-left-color:#d33;font-weight:bold}
td.ev.free{background:#eceff3;border-left-color:#667}
td.ev.uaf{background:#ffd9de;border-left-color:#a0001a;font-weight:bold;outline:2px dashed #d33}
td.src a{color:#778;font-size:11px}
#side{width:380px;flex:none}
.card{background:#fff;border:1px solid #d5dae1;border-radius:6px;padding:8px 10px;margin-bottom:10px;font-size:13px}
.card h2{font-size:13px;margin:0 0 6px;color:#35506b}
.ring{display:flex;gap:3px;margin:4px 0 8px}
.rc{display:flex;flex-direction:column;align-items:center;width:54px}
.rc .mk{font-size:10px;font-weight:bold;height:13px;color:#7a4b00}
.rc .cell{width:52px;height:34px;border:1px solid #b9c2cc;border-radius:3px;background:#fafbfc;font-family:monospace;font-size:11px;text-align:center;box-sizing:border-box;padding-top:2px}
.rc .cell.typ{background:#9fd3ab;border-color:#4f9a62}
.rc .ix{font-size:9px;color:#99a}
.broken{background:#ffe3e6;border:2px solid #d33;border-radius:6px;padding:8px;font-size:13px;margin-bottom:10px}
.code{font-family:monospace;font-size:12px;background:#f3f5f8;padding:4px;border-radius:4px;white-space:pre-wrap}
.legend span{display:inline-block;padding:0 5px;margin-right:4px;border-radius:3px;font-size:11px}
.srcref{color:#889;cursor:help}
.snip{font-family:monospace;font-size:11px;background:#f3f5f8;border-radius:4px;padding:4px 0;margin-top:6px;white-space:pre;overflow-x:auto}
.snip .snipf{color:#35506b;padding:0 6px 2px;font-weight:bold}
.snip .ln{display:inline-block;width:34px;color:#99a;text-align:right;margin-right:8px}
.snip .hl{background:#fff1a8}
#designtext{font-size:12px;white-space:pre-wrap;max-height:260px;overflow:auto;background:#fafbfc;border-radius:4px;padding:4px}
</style></head><body>
<header><h1 id="title"></h1><div class="rule" id="rule"></div><div class="meta" id="meta"></div></header>
<div class="controls"><button id="prev">&#9664;</button><button id="next">&#9654;</button>
<input type="range" id="slider" min="0" value="0"><span id="pos" style="font-family:monospace"></span>
<span class="legend"><span style="background:#fff0c2">stale load</span><span style="background:#ffe3e6">race</span><span style="background:#eceff3">free</span><span style="background:#ffd9de;outline:1px dashed #d33">use after free</span> &larr; &rarr; keys step</span></div>
<main><div id="lanes"></div><div id="side">
<div class="card"><h2>This step</h2><div id="now"></div></div>
<div class="card"><h2>Ring after this step (T = tail, H = head, green = typ set)</h2><div id="ring"></div></div>
<div class="broken" id="broken"></div>
<div class="card"><h2 id="designh">DESIGN.md</h2><div id="designtext"></div></div>
<div class="card"><h2>Objects</h2><div id="objs" style="font-family:monospace;font-size:11px"></div></div>
</div></main>
<script>
const D = /*DATA*/null;
const T = D.trace, E = T.events;
const $ = id => document.getElementById(id);
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const src = at => '<span class="srcref" title="' + esc(((D.sources[at] || [0, []])[1]).join('\n')) + '">' + esc(at) + '</span>';
const snippet = at => {
  const s = D.sources[at]; if (!s) return '';
  const n = +at.split(':').pop();
  return '<div class="snip"><div class="snipf">' + esc(at) + '</div>' + s[1].map((l, k) => '<div class="' + (s[0] + k === n ? 'hl' : '') + '"><span class="ln">' + (s[0] + k) + '</span>' + esc(l) + '</div>').join('') + '</div>';
};
const design = '<a href="' + D.design + '">DESIGN.md §' + esc(D.section) + '</a>';
$('designh').innerHTML = design;
if (T.objects.length === 0) {
  // A test lesson: calls and panics, no shared objects and no ring.
  $('objs').closest('.card').style.display = 'none';
  $('ring').closest('.card').style.display = 'none';
}
$('designtext').textContent = D.design_text || '(section not found)';
$('title').textContent = D.kind === '?' ? 'Failure of ' + D.mutant + ' (' + D.checker + ' ' + D.test + ')' : 'Lesson: ' + D.mutant + ' (' + D.kind + ')';
$('rule').textContent = 'Broken rule: ' + D.rule;
$('meta').innerHTML = 'killed by ' + esc(D.checker) + ' ' + esc(D.test) + ' · ' + E.length + ' events · ' + design + ' · checker said: ' + esc(T.panic.slice(0, 160));
$('broken').innerHTML = '<b>&#10007; Broken at the last step:</b> ' + esc(D.invariant || D.rule) + '.<br>Rule: ' + design;
const lane = t => { const i = T.threads.indexOf(t); return T.thread_names.length ? T.thread_names[i] : 'thread ' + t; };
let h = '<table><tr><th>#</th>' + T.threads.map(t => '<th title="' + esc(lane(t)) + '">' + esc(lane(t)) + '</th>').join('') + '</tr>';
E.forEach((e, i) => {
  h += '<tr id="r' + i + '"><td class="step">' + i + '</td>';
  T.threads.forEach(t => {
    if (t === e.thread) {
      const cls = 'ev' + (e.uaf ? ' uaf' : e.op === 'free' ? ' free' : e.racing ? ' race' : e.stale ? ' stale' : '');
      h += '<td class="' + cls + '" title="' + esc(e.code) + '" onclick="go(' + i + ')">' + esc(e.text) + '<span class="at">' + src(e.at) + '</span></td>';
    } else h += '<td></td>';
  });
  h += '</tr>';
});
$('lanes').innerHTML = h + '</table>';
$('objs').innerHTML = T.objects.slice(0, 40).map((o, i) => esc(i + ' ' + o.name + ' (' + o.kind + ', ' + o.at + ')')).join('<br>') + (T.objects.length > 40 ? '<br>… ' + (T.objects.length - 40) + ' more' : '');
const ringHtml = rs => !rs || rs.length === 0 ? '<span style="color:#999">no dequeue in this lesson</span>' : rs.map(r => {
  const cap = r.typ.length, m = x => ((x % cap) + cap) % cap;
  let s = '<div style="font-family:monospace;font-size:12px">' + esc(r.name) + ': head ' + r.head + ' · tail ' + r.tail + (r.freed ? ' <b style="color:#a0001a">FREED</b>' : '') + '</div><div class="ring"' + (r.freed ? ' style="opacity:.45"' : '') + '>';
  r.typ.forEach((typ, i) => {
    const mk = (i === m(r.tail) ? 'T' : '') + (i === m(r.head) ? 'H' : '');
    const v = r.value[i];
    s += '<div class="rc"><span class="mk">' + mk + '</span><div class="cell' + (typ ? ' typ' : '') + '">typ ' + (typ ? 1 : 0) + '<br>val ' + (v === null ? '·' : esc(v)) + '</div><span class="ix">slot ' + i + '</span></div>';
  });
  return s + '</div>';
}).join('');
const slider = $('slider'); slider.max = E.length - 1;
function go(i) {
  i = Math.max(0, Math.min(E.length - 1, i)); slider.value = i;
  E.forEach((_, j) => { const r = $('r' + j); r.className = j === i ? 'cur' : j > i ? 'future' : ''; });
  const e = E[i];
  $('pos').textContent = 'step ' + i + ' / ' + (E.length - 1);
  const why = {
    panic: '<br><b style="color:#c00">the run panicked here: this is where the rule is seen broken</b>',
    note: '<br><b style="color:#a66d00">user code runs here, as the test noted (no panic reports it)</b>',
    call: '<br><b style="color:#a66d00">user code, called while a pool frame is still on the stack</b>',
  };
  const stale = e.op in why ? (e.stale || e.racing ? why[e.op] : '') : (e.stale ? '<br><b style="color:#a66d00">stale: loom let this load read an older value than the latest store (' + esc(e.latest) + ')</b>' : '') + (e.racing ? '<br><b style="color:#c00">data race: this access and another thread\'s are not ordered by happens-before</b>' : '');
  $('now').innerHTML = '<b>' + esc(lane(e.thread)) + '</b>: ' + esc(e.text) + stale + (e.uaf && e.op !== 'free' ? '<br><b style="color:#a0001a">use after free: this object was dropped at step ' + freeStep(e) + '</b>' : '') + (e.uaf && e.op === 'free' ? '<br><b style="color:#a0001a">freed while another thread still uses it (see the later red access)</b>' : '') + snippet(e.at);
  $('ring').innerHTML = ringHtml(T.rings[i]);
  $('r' + i).scrollIntoView({block: 'nearest'});
}
function freeStep(e) { const f = E.findIndex(x => x.op === 'free' && x.freed.includes(e.obj)); return f < 0 ? '?' : f; }
slider.oninput = () => go(+slider.value);
$('prev').onclick = () => go(+slider.value - 1);
$('next').onclick = () => go(+slider.value + 1);
document.onkeydown = ev => { if (ev.key === 'ArrowLeft') go(+slider.value - 1); if (ev.key === 'ArrowRight') go(+slider.value + 1); };
go(E.length - 1);
</script></body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mutant_has_a_lesson_that_is_drawn() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let design = std::fs::read_to_string(root.join("DESIGN.md")).unwrap();
        let anchors: Vec<String> = design
            .lines()
            .filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### ")))
            .map(anchor)
            .collect();
        for m in catalogue(&root).unwrap() {
            let l = lesson(&m.name).unwrap_or_else(|| panic!("{} has no lesson", m.name));
            assert!(
                drawn(&m),
                "{}: killed by {}, which explain does not draw",
                m.name,
                m.tool
            );
            assert!(
                anchors.contains(&anchor(l.section)),
                "{}: no DESIGN.md heading {:?}",
                m.name,
                l.section
            );
        }
    }

    #[test]
    fn design_anchors_are_githubs() {
        assert_eq!(
            anchor("6.2 Shared chains: generations by pointer swap, freed after a grace period"),
            "62-shared-chains-generations-by-pointer-swap-freed-after-a-grace-period"
        );
        assert_eq!(
            anchor("2. `PoolDequeue`: the SPMC ring"),
            "2-pooldequeue-the-spmc-ring"
        );
    }

    #[test]
    fn a_use_after_free_is_marked() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = "O\t0\tAtomicU64\tx.rs:1\t0\n\
                    O\t1\tAtomicU64\tx.rs:1\t0\n\
                    E\t1\t0\tload\tAcquire\t0\t-\tx.rs:2\n\
                    E\t0\t0\tfree\t-\t-\t-\tx.rs:9\n\
                    E\t0\t1\tfree\t-\t-\t-\tx.rs:9\n\
                    E\t0\t1\tload\tRelaxed\t0\t-\tx.rs:3\n\
                    E\t1\t0\tuse-after-free\tload\t-\t-\tx.rs:2\n\
                    P\tuse after free of object 0 (AtomicU64 created at x.rs:1)\n";
        let t = parse(text, &root).unwrap();
        // The two drops are one event; the dropping thread's own read is fine.
        assert_eq!(t.events.len(), 4);
        assert_eq!(t.events[1].freed, vec![0, 1]);
        assert!(!t.events[0].uaf && t.events[1].uaf && !t.events[2].uaf && t.events[3].uaf);
        assert!(
            t.panic.starts_with("use after free of x.obj0"),
            "{}",
            t.panic
        );
    }

    #[test]
    fn a_stale_load_is_marked() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = "O\t0\tAtomicU64\tx.rs:1\t0\n\
                    E\t0\t0\tstore\tRelaxed\t5\t-\tx.rs:2\n\
                    E\t1\t0\tload\tRelaxed\t0\t-\tx.rs:3\n\
                    P\tboom\n";
        let t = parse(text, &root).unwrap();
        assert!(!t.events[0].stale);
        assert!(t.events[1].stale);
        assert_eq!(t.events[1].latest, Some(5));
    }
}
