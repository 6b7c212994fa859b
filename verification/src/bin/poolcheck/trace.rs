//! A checker's trace (written by the core's recorder, `trace` in
//! `src/sync.rs`) parsed into events, and drawn: one column per thread in
//! the terminal, and a self-contained HTML page with swimlanes, a step
//! slider and the ring's state after each step. Used by `poolcheck
//! explain` and by `poolcheck replay` (shuttle failures).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::context::Ctx;
use crate::lessons::{design_link, lesson, Kind, Lesson};
use crate::mutants::Mutant;

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
    let panic = name_objects(&without_registry_paths(&panic), &objects);
    Ok(Trace {
        objects,
        events,
        panic,
        rings: ring_states,
        threads,
        thread_names: Vec::new(),
    })
}

/// A dependency's source path in a panic message (`/home/u/.cargo/
/// registry/src/index.crates.io-…/loom-0.7.3/src/rt/location.rs`) from its
/// crate on (`loom-0.7.3/src/rt/location.rs`).
fn without_registry_paths(message: &str) -> String {
    message
        .split(' ')
        .map(|word| match word.find("/registry/src/") {
            Some(i) => {
                let rest = &word[i + "/registry/src/".len()..];
                rest.split_once('/')
                    .map_or(rest, |(_, path)| path)
                    .to_string()
            }
            None => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// The steps a picture opens on: where the bug happens, and the steps it
/// pairs with (the racing or repeated access, the free and the use after
/// it, the stale load).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Focus {
    /// The step where the bug happens (not where the checker noticed).
    pub bug: usize,
    /// The marked steps, `bug` among them, in order.
    pub marked: Vec<usize>,
    /// The first step shown unfolded; the ones before are folded.
    pub first_shown: usize,
    /// Runs of steps folded (first and last step, inclusive): those before
    /// `first_shown`, and the long runs between the marked steps and after
    /// them, but for the last step (where the checker noticed).
    pub folded: Vec<(usize, usize)>,
}

/// Steps shown before the first marked one.
const LEAD_IN: usize = 4;

/// The `file:line`s of `mutant`'s code in the core: the lines after each
/// `victim_pool_mutant = "NAME"` cfg (not a `not(...)` one) up to the next
/// blank line, comment or attribute, and the cfg's own line (a `cfg!` in
/// an expression).
fn mutant_lines(root: &Path, trace: &Trace, mutant: &str) -> Vec<String> {
    let needle = format!("victim_pool_mutant = \"{mutant}\"");
    let mut files: Vec<&str> = trace
        .events
        .iter()
        .filter_map(|e| e.at.rsplit_once(':').map(|(f, _)| f))
        .collect();
    files.sort_unstable();
    files.dedup();
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.contains(&needle) || line.contains("not(") {
                continue;
            }
            out.push(format!("{file}:{}", i + 1));
            for (j, next) in lines.iter().enumerate().skip(i + 1).take(8) {
                let t = next.trim();
                if t.is_empty() || t.starts_with("//") || t.starts_with("#[") {
                    break;
                }
                out.push(format!("{file}:{}", j + 1));
            }
        }
    }
    out
}

/// Where the bug of `mutant` happens in `trace`: the free of a use after
/// free; else the last execution of the mutant's code that repeats another
/// thread's on the same object (two consumers taking one index), or the
/// last one at all (a Relaxed publish); else the first stale or racing
/// access; else the last step.
pub fn focus(trace: &Trace, mutant: &str, root: &Path) -> Focus {
    let events = &trace.events;
    let Some(last) = events.len().checked_sub(1) else {
        return Focus::default();
    };
    let mut marked: Vec<usize> = events
        .iter()
        .filter(|e| e.racing || e.uaf)
        .map(|e| e.step)
        .collect();
    let lines = mutant_lines(root, trace, mutant);
    let in_mutant: Vec<&Event> = events
        .iter()
        .filter(|e| e.op != "free" && lines.contains(&e.at))
        .collect();
    if trace.objects.is_empty() {
        // A test lesson (call chains down to each panic, no shared memory):
        // every chain stays in view; the bug is the mutant's frame.
        let bug = in_mutant.last().map_or(last, |e| e.step);
        return Focus {
            bug,
            marked: vec![bug],
            first_shown: 0,
            folded: Vec::new(),
        };
    }
    // The first execution that writes what another thread's already wrote
    // there: both went on as if they alone had (one index taken twice).
    let repeated = in_mutant.iter().find_map(|later| {
        in_mutant
            .iter()
            .take_while(|e| e.step < later.step)
            .find(|e| {
                e.thread != later.thread
                    && e.obj.is_some()
                    && e.obj == later.obj
                    && e.value.is_some()
                    && e.value == later.value
            })
            .map(|earlier| (earlier.step, later.step))
    });
    let first_race = marked.first().copied();
    let bug = if let Some(free) = events.iter().find(|e| e.op == "free" && e.uaf) {
        // The user's last step before the free: it was inside then (it
        // holds the pointer), and still is when it touches the memory.
        let user = events[free.step..].iter().find(|e| e.uaf && e.op != "free");
        if let Some(user) = user {
            if let Some(before) = events[..free.step]
                .iter()
                .rev()
                .find(|e| e.thread == user.thread)
            {
                marked.push(before.step);
            }
        }
        free.step
    } else if let Some((earlier, later)) = repeated {
        marked.extend([earlier, later]);
        // What each then did with what it took: its next cell access.
        for step in [earlier, later] {
            let thread = events[step].thread;
            if let Some(e) = events[step..]
                .iter()
                .find(|e| e.thread == thread && e.op.starts_with("cell"))
            {
                marked.push(e.step);
            }
        }
        later
    } else if let Some(race) = first_race {
        // The mutant's code between the two racing accesses: run by the
        // first racer right after its access (a Relaxed publish or hand-
        // back), else by the second just before its own (a Relaxed check).
        // Without a line of its own (a mutated constant): the second
        // racer's last Relaxed load in between, the load that should have
        // acquired.
        let later = marked.last().copied().unwrap_or(race);
        let between = |e: &&&Event| e.step > race && e.step < later;
        in_mutant
            .iter()
            .filter(between)
            .find(|e| e.thread == events[race].thread)
            .or_else(|| {
                in_mutant
                    .iter()
                    .filter(between)
                    .rev()
                    .find(|e| e.thread == events[later].thread)
            })
            .or_else(|| in_mutant.iter().find(|e| e.step > race))
            .or(in_mutant.last())
            .copied()
            .or_else(|| {
                events[race..later].iter().rev().find(|e| {
                    e.thread == events[later].thread && e.op == "load" && e.ordering == "Relaxed"
                })
            })
            .map_or(race, |e| e.step)
    } else if let Some(e) = in_mutant.last() {
        // After a stale load (a pop that found the segment empty when it
        // was not), the mutant's code run next acts on that: that is the
        // bug; else its last run.
        let stale = events.iter().find(|e| e.stale).map(|e| e.step);
        match stale.and_then(|s| in_mutant.iter().find(|e| e.step > s).map(|e| (s, e.step))) {
            Some((stale, step)) => {
                marked.push(stale);
                step
            }
            None => e.step,
        }
    } else if let Some(e) = events.iter().find(|e| e.stale) {
        e.step
    } else {
        last
    };
    // A stale load is the lesson only where weak memory is and no race or
    // use after free says more.
    let weak = lesson(mutant).is_some_and(|l| l.kind == Kind::WeakMemory);
    if let Some(stale) = events
        .iter()
        .find(|e| e.stale && ((weak && first_race.is_none()) || e.step == bug))
    {
        marked.push(stale.step);
    }
    marked.push(bug);
    marked.sort_unstable();
    marked.dedup();
    let first = marked.first().copied().unwrap_or(bug);
    let first_shown = first.saturating_sub(LEAD_IN);
    // Shown: a few steps before each marked one, the one after it, and the
    // last step; a run of fewer than `MIN_FOLD` others stays shown too.
    let near = |i: usize, m: usize| i + LEAD >= m && i <= m + 1;
    let shown = |i: usize| {
        i == last || (first_shown..=first).contains(&i) || marked.iter().any(|&m| near(i, m))
    };
    let mut folded = Vec::new();
    let mut run: Option<usize> = None;
    for i in 0..=last {
        match (shown(i), run) {
            (false, None) => run = Some(i),
            (true, Some(start)) => {
                if i - start >= MIN_FOLD {
                    folded.push((start, i - 1));
                }
                run = None;
            }
            _ => {}
        }
    }
    Focus {
        bug,
        first_shown,
        marked,
        folded,
    }
}

/// Steps shown before each marked one but the first.
const LEAD: usize = 2;

/// The shortest run of steps that is folded.
const MIN_FOLD: usize = 3;

/// Width of the terminal picture.
const COLUMNS: usize = 100;

/// Splits `text` into lines of at most `width` characters, at spaces where
/// it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        while cur.chars().count() + word.len() > width {
            let room = width - cur.chars().count();
            cur.extend(word.drain(..room));
            lines.push(std::mem::take(&mut cur));
        }
        cur.extend(word);
    }
    lines.push(cur);
    lines
}

/// The terminal picture, at most 100 columns wide: one column per thread,
/// time downward, a long event wrapped inside its column; the steps before
/// the ones that matter folded into one line.
pub fn terminal(
    trace: &Trace,
    focus: &Focus,
    lesson: Option<&Lesson>,
    rule: &str,
    color: bool,
) -> String {
    let paint = |s: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let lanes = trace.threads.len().max(1);
    let w = ((COLUMNS - 5) / lanes).clamp(12, 48);
    let mut out = String::new();
    let _ = write!(out, "{:>4} ", "step");
    for &t in &trace.threads {
        let name: String = trace.thread_name(t).chars().take(w - 2).collect();
        let _ = write!(out, "{name:<w$}");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    let col = |t: usize| trace.threads.iter().position(|&x| x == t).unwrap_or(0);
    for e in &trace.events {
        if let Some(&(a, b)) = focus
            .folded
            .iter()
            .find(|(a, b)| (*a..=*b).contains(&e.step))
        {
            if e.step == a {
                let line = format!("   … steps {a}–{b} folded (the lesson page shows them)");
                let _ = writeln!(out, "{}", paint(&line, "2"));
            }
            continue;
        }
        let pad = " ".repeat(col(e.thread) * w);
        let marked = focus.marked.contains(&e.step);
        let text = format!("{}{}", if marked { "▶ " } else { "" }, e.text);
        let mut cells = wrap(&text, w - 1);
        let text_lines = cells.len();
        cells.extend(wrap(&e.at, w - 1));
        for (k, cell) in cells.iter().enumerate() {
            let step = if k == 0 {
                format!("{:>4}", e.step)
            } else {
                "    ".to_string()
            };
            let cell = if k >= text_lines {
                paint(cell, "2")
            } else if e.racing || e.uaf {
                paint(cell, "1;31")
            } else if e.stale {
                paint(cell, "1;33")
            } else if marked {
                paint(cell, "1")
            } else {
                cell.clone()
            };
            let _ = writeln!(out, "{step} {pad}{cell}");
        }
        if e.step == focus.bug {
            let what = lesson.map_or(rule, |l| l.here);
            for line in wrap(
                &format!("✗ step {}, what went wrong: {what}", e.step),
                COLUMNS - 5,
            ) {
                let _ = writeln!(out, "     {}", paint(&line, "1;31"));
            }
        }
    }
    let broke = lesson.map_or(rule, |l| l.invariant);
    for line in wrap(&format!("✗ broken: {broke}."), COLUMNS - 2) {
        let _ = writeln!(out, "  {}", paint(&line, "1;31"));
    }
    if let Some(l) = lesson {
        for line in wrap(
            &format!("rule: {rule} (DESIGN.md §{})", l.section),
            COLUMNS - 4,
        ) {
            let _ = writeln!(out, "    {line}");
        }
    }
    for line in wrap(&format!("checker: {}", trace.panic), COLUMNS - 4) {
        let _ = writeln!(out, "    {line}");
    }
    out
}

/// The self-contained HTML page.
///
/// `page_dir` is where the page will be: its links to DESIGN.md and the
/// repository's files are relative to it.
pub fn html(
    trace: &Trace,
    m: &Mutant,
    lesson: Option<&Lesson>,
    root: &Path,
    page_dir: &Path,
) -> String {
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
        /// The DESIGN.md section, rendered (the page is self-contained).
        design_html: String,
        /// What goes wrong at the bug's step, in one line.
        here: &'a str,
        focus: Focus,
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
        design: design_link(root, page_dir, section),
        design_html: markdown(
            &design_section(root, section),
            &crate::lessons::relative(page_dir, root),
        ),
        here: lesson.map_or(&m.rule, |l| l.here),
        focus: focus(trace, &m.name, root),
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

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The inline Markdown of DESIGN.md (`code`, **bold**, *emphasis*,
/// [links](target)) as HTML; a relative link target is made relative to
/// the page through `to_root` (the workspace root, seen from the page).
fn inline(text: &str, to_root: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let (mut bold, mut em) = (false, false);
    let find = |from: usize, c: char| chars[from..].iter().position(|&x| x == c).map(|p| p + from);
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            if let Some(end) = find(i + 1, '`') {
                let code: String = chars[i + 1..end].iter().collect();
                let _ = write!(out, "<code>{}</code>", escape(&code));
                i = end + 1;
                continue;
            }
        }
        if c == '[' {
            if let Some(close) = find(i + 1, ']') {
                if chars.get(close + 1) == Some(&'(') {
                    if let Some(end) = find(close + 2, ')') {
                        let label: String = chars[i + 1..close].iter().collect();
                        let target: String = chars[close + 2..end].iter().collect();
                        let href = if target.contains("://") {
                            target
                        } else if let Some(anchor) = target.strip_prefix('#') {
                            format!("{to_root}/DESIGN.md#{anchor}")
                        } else {
                            format!("{to_root}/{target}")
                        };
                        let _ = write!(
                            out,
                            "<a href=\"{}\">{}</a>",
                            escape(&href),
                            inline(&label, to_root)
                        );
                        i = end + 1;
                        continue;
                    }
                }
            }
        }
        if c == '*' && chars.get(i + 1) == Some(&'*') {
            out.push_str(if bold { "</b>" } else { "<b>" });
            bold = !bold;
            i += 2;
            continue;
        }
        if c == '*' {
            out.push_str(if em { "</em>" } else { "<em>" });
            em = !em;
            i += 1;
            continue;
        }
        out.push_str(&escape(&c.to_string()));
        i += 1;
    }
    if em {
        out.push_str("</em>");
    }
    if bold {
        out.push_str("</b>");
    }
    out
}

/// The block Markdown of a DESIGN.md section (headings, paragraphs, lists,
/// tables, fenced code) as HTML.
fn markdown(text: &str, to_root: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_end();
        if t.is_empty() {
            continue;
        }
        if t.starts_with("```") {
            let mut code = Vec::new();
            for l in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                code.push(escape(l));
            }
            let _ = write!(out, "<pre>{}</pre>", code.join("\n"));
        } else if let Some(h) = t.strip_prefix('#') {
            let level = 1 + h.chars().take_while(|&c| c == '#').count();
            let title = h.trim_start_matches('#').trim();
            let level = (level + 1).min(6);
            let _ = write!(out, "<h{level}>{}</h{level}>", inline(title, to_root));
        } else if t.contains('|') && lines.peek().is_some_and(|l| is_separator(l)) {
            let mut rows = vec![t.to_string()];
            while let Some(l) = lines.next_if(|l| l.contains('|')) {
                rows.push(l.trim().to_string());
            }
            out.push_str("<table>");
            for (r, row) in rows.iter().enumerate() {
                if is_separator(row) {
                    continue;
                }
                let cells = cells(row);
                let tag = if r == 0 { "th" } else { "td" };
                out.push_str("<tr>");
                for c in cells {
                    let _ = write!(out, "<{tag}>{}</{tag}>", inline(&c, to_root));
                }
                out.push_str("</tr>");
            }
            out.push_str("</table>");
        } else if t.starts_with("- ") || t.starts_with("* ") || t.starts_with("1. ") {
            let ordered = t.starts_with("1. ");
            let mut items = vec![item_text(t)];
            while let Some(l) = lines
                .next_if(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("```"))
            {
                let lt = l.trim_start();
                let is_item = lt.starts_with("- ")
                    || lt.starts_with("* ")
                    || lt.split_once(". ").is_some_and(|(n, _)| {
                        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
                    });
                if is_item && !l.starts_with("    ") {
                    items.push(item_text(lt));
                } else if let Some(last) = items.last_mut() {
                    last.push(' ');
                    last.push_str(lt);
                }
            }
            let tag = if ordered { "ol" } else { "ul" };
            let _ = write!(out, "<{tag}>");
            for it in items {
                let _ = write!(out, "<li>{}</li>", inline(&it, to_root));
            }
            let _ = write!(out, "</{tag}>");
        } else {
            let mut para = vec![t.trim().to_string()];
            while let Some(l) = lines.next_if(|l| {
                let l = l.trim();
                !l.is_empty()
                    && !l.starts_with('#')
                    && !l.starts_with("```")
                    && !l.starts_with('|')
                    && !l.starts_with("- ")
            }) {
                para.push(l.trim().to_string());
            }
            let _ = write!(out, "<p>{}</p>", inline(&para.join(" "), to_root));
        }
    }
    out
}

/// A table's header separator: `---|:---`.
fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.contains('-') && t.contains('|') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// A table row's cells: split at each `|` that is not escaped (`\|`).
fn cells(row: &str) -> Vec<String> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = row
        .strip_suffix('|')
        .filter(|r| !r.ends_with('\\'))
        .unwrap_or(row);
    let mut out = vec![String::new()];
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().expect("never empty").push('|');
                chars.next();
            }
            '|' => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

/// A list item's text without its marker.
fn item_text(line: &str) -> String {
    let line = line.trim_start();
    line.strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))
        .or_else(|| line.split_once(". ").map(|(_, rest)| rest))
        .unwrap_or(line)
        .to_string()
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
    let title = format!(
        "lesson {} ({}: {}): {}",
        m.name,
        m.tool,
        m.test,
        lesson.map_or("", |l| l.section)
    );
    for line in wrap(&title, COLUMNS) {
        println!("{line}");
    }
    print!(
        "{}",
        terminal(
            trace,
            &focus(trace, &m.name, &ctx.root),
            lesson,
            &m.rule,
            color
        )
    );
    let page_dir = html_out.parent().unwrap_or(Path::new("."));
    std::fs::write(html_out, html(trace, m, lesson, &ctx.root, page_dir))
        .map_err(|e| format!("cannot write {}: {e}", html_out.display()))?;
    println!("page: {}", html_out.display());
    Ok(0)
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
tr.future td.ev.mark{opacity:1}
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
#designtext{font-size:12px;max-height:300px;overflow:auto;background:#fafbfc;border-radius:4px;padding:4px 8px}
#designtext pre{font-size:11px;background:#f0f2f5;padding:4px;overflow-x:auto}
#designtext table{font-family:inherit;font-size:11px;table-layout:auto}
#designtext td,#designtext th{border:1px solid #d5dae1;padding:2px 4px;position:static}
#designtext h2,#designtext h3,#designtext h4{font-size:13px;margin:6px 0}
#designtext p{margin:4px 0}
tr.fold td{background:#eef2f7;color:#35506b;cursor:pointer;font-family:system-ui,sans-serif;font-size:12px;padding:4px 8px}
tr.folded{display:none}
td.ev.mark{box-shadow:inset 0 0 0 2px #d33}
td.ev .tag{display:inline-block;background:#d33;color:#fff;font-size:10px;border-radius:3px;padding:0 4px;margin-right:4px;font-weight:bold}
tr.wrong td{background:#ffe3e6;color:#8a0010;font-family:system-ui,sans-serif;font-size:13px;font-weight:bold;padding:5px 8px;border-left:3px solid #d33}
#steplink{color:#35506b;font-size:12px}
</style></head><body>
<header><h1 id="title"></h1><div class="rule" id="rule"></div><div class="meta" id="meta"></div></header>
<div class="controls"><button id="prev">&#9664;</button><button id="next">&#9654;</button>
<input type="range" id="slider" min="0" value="0"><span id="pos" style="font-family:monospace"></span>
<a id="steplink" href="#">link to this step</a> <span class="legend"><span style="background:#fff0c2">stale load</span><span style="background:#ffe3e6">race</span><span style="background:#eceff3">free</span><span style="background:#ffd9de;outline:1px dashed #d33">use after free</span> &larr; &rarr; keys step</span></div>
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
$('designtext').innerHTML = D.design_html || '(section not found)';
$('title').textContent = D.kind === '?' ? 'Failure of ' + D.mutant + ' (' + D.checker + ' ' + D.test + ')' : 'Lesson: ' + D.mutant + ' (' + D.kind + ')';
$('rule').textContent = 'Broken rule: ' + D.rule;
$('meta').innerHTML = 'killed by ' + esc(D.checker) + ' ' + esc(D.test) + ' · ' + E.length + ' events · ' + design + ' · checker said: ' + esc(T.panic.slice(0, 160));
const lane = t => { const i = T.threads.indexOf(t); return T.thread_names.length ? T.thread_names[i] : 'thread ' + t; };
const F = D.focus, last = E.length - 1;
$('broken').innerHTML = '<b>&#10007; Broken at step ' + F.bug + '</b> (' + esc(lane(E[F.bug].thread)) + ')' + (F.bug < last ? ', noticed by the checker at step ' + last : '') + ': ' + esc(D.invariant || D.rule) + '.<br>Rule: ' + design;
let h = '<table><tr><th>#</th>' + T.threads.map(t => '<th title="' + esc(lane(t)) + '">' + esc(lane(t)) + '</th>').join('') + '</tr>';
const foldOf = i => F.folded.findIndex(([a, b]) => a <= i && i <= b);
E.forEach((e, i) => {
  const k = foldOf(i);
  if (k >= 0 && F.folded[k][0] === i) {
    const [a, b] = F.folded[k];
    const what = a === 0 ? 'what led up to it' : b === last - 1 ? 'until the checker noticed' : 'in between';
    h += '<tr class="fold" id="fold' + k + '" onclick="unfold(' + k + ')"><td colspan="' + (T.threads.length + 1) + '">&#9656; steps ' + a + '&ndash;' + b + ' folded (' + what + '): click to show</td></tr>';
  }
  h += '<tr id="r' + i + '"' + (k >= 0 ? ' class="folded"' : '') + '><td class="step">' + i + '</td>';
  T.threads.forEach(t => {
    if (t === e.thread) {
      const marked = F.marked.includes(i);
      const cls = 'ev' + (e.uaf ? ' uaf' : e.op === 'free' ? ' free' : e.racing ? ' race' : e.stale ? ' stale' : '') + (marked ? ' mark' : '');
      const tag = i === F.bug ? '<span class="tag">bug</span>' : marked ? '<span class="tag">pair</span>' : '';
      h += '<td class="' + cls + '" title="' + esc(e.code) + '" onclick="go(' + i + ')">' + tag + esc(e.text) + '<span class="at">' + src(e.at) + '</span></td>';
    } else h += '<td></td>';
  });
  h += '</tr>';
  if (i === F.bug)
    h += '<tr class="wrong" id="wrong"><td colspan="' + (T.threads.length + 1) + '">&#10007; step ' + i + ', what went wrong: ' + esc(D.here) + '</td></tr>';
});
$('lanes').innerHTML = h + '</table>';
function unfold(k) {
  const f = $('fold' + k); if (!f) return;
  f.remove();
  for (let j = F.folded[k][0]; j <= F.folded[k][1]; j++) $('r' + j).classList.remove('folded');
}
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
function go(i, scroll) {
  i = Math.max(0, Math.min(E.length - 1, i)); slider.value = i;
  if (foldOf(i) >= 0) unfold(foldOf(i));
  history.replaceState(null, '', '#step=' + i);
  $('steplink').href = '#step=' + i;
  E.forEach((_, j) => { const r = $('r' + j); r.classList.toggle('cur', j === i); r.classList.toggle('future', j > i); });
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
  if (scroll !== false) $('r' + i).scrollIntoView({block: 'nearest'});
}
function freeStep(e) { const f = E.findIndex(x => x.op === 'free' && x.freed.includes(e.obj)); return f < 0 ? '?' : f; }
slider.oninput = () => go(+slider.value);
$('prev').onclick = () => go(+slider.value - 1);
$('next').onclick = () => go(+slider.value + 1);
document.onkeydown = ev => { if (ev.key === 'ArrowLeft') go(+slider.value - 1); if (ev.key === 'ArrowRight') go(+slider.value + 1); };
const fromHash = () => { const m = /step=(\d+)/.exec(location.hash); return m ? +m[1] : null; };
window.onhashchange = () => { const n = fromHash(); if (n !== null && n !== +slider.value) go(n); };
const start = fromHash();
if (start === null) {
  // First load: the lanes start at the first step shown, so the marked
  // steps and the bug are in view together.
  go(F.bug, false);
  const lanes = $('lanes'), head = lanes.querySelector('th').offsetHeight;
  const top = F.folded.length && F.folded[0][0] === 0 ? $('fold0') : $('r' + F.first_shown);
  lanes.scrollTop = top.offsetTop - head;
  // Nothing folded before it (a test lesson's call chains): the bug's row
  // in the middle of the lanes.
  const bugRow = $('wrong') || $('r' + F.bug);
  if (bugRow.offsetTop + bugRow.offsetHeight > lanes.scrollTop + lanes.clientHeight)
    lanes.scrollTop = bugRow.offsetTop - lanes.clientHeight / 2;
} else go(start);
</script></body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The line of `src/dequeue.rs` where `pop_tail_without_cas` stores the tail.
    fn mutant_store_line(root: &Path) -> usize {
        let text = std::fs::read_to_string(root.join("src/dequeue.rs")).unwrap();
        let attr = text
            .lines()
            .position(|l| {
                l.contains("victim_pool_mutant = \"pop_tail_without_cas\"") && !l.contains("not(")
            })
            .unwrap();
        attr + text
            .lines()
            .skip(attr)
            .position(|l| l.contains(".store("))
            .unwrap()
            + 1
    }

    #[test]
    fn the_bug_is_the_second_consumer_taking_the_same_index() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let at = format!("src/dequeue.rs:{}", mutant_store_line(&root));
        let text = format!(
            "O\t0\tAtomicU64\tsrc/dequeue.rs:1\t0\n\
             E\t0\t0\tload\tRelaxed\t0\t-\tx.rs:1\n\
             E\t1\t0\tstore\tRelaxed\t5\t-\t{at}\n\
             E\t2\t0\tstore\tRelaxed\t6\t-\t{at}\n\
             E\t3\t0\tstore\tRelaxed\t6\t-\t{at}\n\
             E\t0\t0\tload\tRelaxed\t6\t-\tx.rs:1\n\
             P\tnot linearizable\n"
        );
        let t = parse(&text, &root).unwrap();
        let f = focus(&t, "pop_tail_without_cas", &root);
        // Thread 1's store took its own index; 2 and 3 took the same one.
        assert_eq!(f.bug, 3);
        assert!(f.marked.contains(&2) && f.marked.contains(&3) && !f.marked.contains(&1));
    }

    #[test]
    fn the_bug_of_a_use_after_free_is_the_free() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = "O\t0\tAtomicU64\tx.rs:1\t0\n\
                    E\t1\t0\tload\tAcquire\t0\t-\tx.rs:2\n\
                    E\t0\t0\tfree\t-\t-\t-\tx.rs:9\n\
                    E\t1\t0\tuse-after-free\tload\t-\t-\tx.rs:2\n\
                    P\tuse after free of object 0\n";
        let t = parse(text, &root).unwrap();
        let f = focus(&t, "free_unlinked_immediately", &root);
        // Thread 1 was inside (step 0) before the free and touched it after.
        assert_eq!((f.bug, f.marked.clone()), (1, vec![0, 1, 2]));
    }

    #[test]
    fn the_terminal_picture_fits_100_columns() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut text = String::from("O\t0\tAtomicU64\tx.rs:1\t0\n");
        for step in 0..40 {
            let _ = writeln!(
                text,
                "E\t{}\t0\tcompare_exchange_weak_with_a_long_name\tRelaxed\t{step}\t{}\tsrc/some/long/path/to/a/file.rs:{step}",
                step % 6,
                step + 1
            );
        }
        text.push_str("P\ta checker message that is much longer than one line of a terminal, so that it has to be wrapped somewhere\n");
        let t = parse(&text, &root).unwrap();
        let f = focus(&t, "none", &root);
        let out = terminal(&t, &f, None, "a rule", false);
        for line in out.lines() {
            assert!(
                line.chars().count() <= COLUMNS,
                "{} columns: {line}",
                line.chars().count()
            );
        }
    }

    #[test]
    fn design_markdown_is_rendered_with_relative_links() {
        let md = "## 6.1 Slots\n\nA | B\n--|--\n`x \\| y` | *z*\n\nSee [the tour](verification/TOUR.md) and [§2](#2-ring).\n\n- one\n- two\n";
        let html = markdown(md, "../..");
        assert!(html.contains("<h3>6.1 Slots</h3>"), "{html}");
        assert!(
            html.contains("<td><code>x | y</code></td><td><em>z</em></td>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"../../verification/TOUR.md\">the tour</a>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"../../DESIGN.md#2-ring\">§2</a>"),
            "{html}"
        );
        assert!(html.contains("<ul><li>one</li><li>two</li></ul>"), "{html}");
        assert!(!html.contains("file://"));
    }
}
