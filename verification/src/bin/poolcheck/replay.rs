//! `poolcheck replay FILE`: re-runs a saved failure and renders it in the
//! terminal and as a self-contained HTML page.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::conc::{self, ConcHistory, ConcOutcome};
use crate::failure::{built_mutant, Failure, Kind, ShuttleCase, FORMAT};
use crate::history::{self, LfState, LocalState, ModelState, RingState, StepTrace};
use crate::shuttle_fuzz;

/// Loads and validates a failure file.
pub fn load(path: &Path) -> Result<Failure, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read replay file {}: {e}", path.display()))?;
    let failure: Failure = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a poolcheck failure file: {e}", path.display()))?;
    if failure.format != FORMAT {
        return Err(format!(
            "{}: unsupported format {:?} (expected {FORMAT:?})",
            path.display(),
            failure.format
        ));
    }
    match failure.kind {
        Kind::Sequential if failure.history.is_none() => Err(format!(
            "{}: sequential failure without a \"history\"",
            path.display()
        )),
        Kind::Concurrent if failure.concurrent.is_none() => Err(format!(
            "{}: concurrent failure without a \"concurrent\" history",
            path.display()
        )),
        Kind::GoDiff if failure.history.is_none() || failure.go.is_none() => Err(format!(
            "{}: go-diff failure without a \"history\" and Go's \"go\" results",
            path.display()
        )),
        Kind::Shuttle if failure.shuttle.is_none() => Err(format!(
            "{}: shuttle failure without a \"shuttle\" case",
            path.display()
        )),
        _ => Ok(failure),
    }
}

fn items(v: &[Option<u64>]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|i| i.map_or_else(|| "miss".to_string(), |i| i.to_string()))
        .collect();
    parts.join(",")
}

fn local(l: Option<&LocalState>) -> String {
    match l {
        None => "-".to_string(),
        Some(l) => {
            let p = l.private.map_or_else(|| "·".to_string(), |p| p.to_string());
            let s: Vec<String> = l.shared.iter().map(u64::to_string).collect();
            format!("priv {p} shared [{}]", s.join(" "))
        }
    }
}

fn state_lines(state: &ModelState) -> Vec<String> {
    let slots: std::collections::BTreeSet<usize> = state
        .primary
        .keys()
        .chain(state.victim.keys())
        .copied()
        .collect();
    slots
        .iter()
        .map(|s| {
            format!(
                "      slot {s:>3}  primary: {:<30} victim: {}",
                local(state.primary.get(s)),
                local(state.victim.get(s))
            )
        })
        .collect()
}

/// One ring on one line: `head H tail T (n of cap) [cells]`, each cell the
/// item id when its `typ` tag is set, `·` when clear; the cell at
/// `tail % cap` is prefixed `t>`, the one at `head % cap` `h>` (`th>` when
/// they coincide: an empty or a full ring, as the count says). Runs of 4+ unmarked empty cells are shortened to
/// `·×N`.
pub fn ring_line(r: &RingState) -> String {
    let cap = r.slots.len();
    if cap == 0 {
        return format!("head {} tail {} (no slots)", r.head, r.tail);
    }
    let (h, t) = (r.head as usize % cap, r.tail as usize % cap);
    let mut cells: Vec<String> = Vec::new();
    let mut empties = 0usize;
    let flush = |cells: &mut Vec<String>, empties: &mut usize| {
        match *empties {
            0 => {}
            n @ 1..=3 => cells.extend(std::iter::repeat_n("·".to_string(), n)),
            n => cells.push(format!("·×{n}")),
        }
        *empties = 0;
    };
    for (i, v) in r.slots.iter().enumerate() {
        let mark = match (i == t, i == h) {
            (true, true) => "th>",
            (true, false) => "t>",
            (false, true) => "h>",
            (false, false) => "",
        };
        if mark.is_empty() && v.is_none() {
            empties += 1;
            continue;
        }
        flush(&mut cells, &mut empties);
        let v = v.map_or_else(|| "·".to_string(), |v| v.to_string());
        cells.push(format!("{mark}{v}"));
    }
    flush(&mut cells, &mut empties);
    format!(
        "head {} tail {} ({} of {cap}) [{}]",
        r.head,
        r.tail,
        r.head.wrapping_sub(r.tail),
        cells.join(" ")
    )
}

fn lock_free_lines(state: &LfState) -> Vec<String> {
    let opt = |v: Option<u64>| v.map_or_else(|| "·".to_string(), |v| v.to_string());
    let mut out = vec![format!(
        "      lock-free internals (cleanups {}){}",
        state.cleanups,
        if state.slots.is_empty() {
            ": no slot holds anything"
        } else {
            ""
        }
    )];
    for s in &state.slots {
        out.push(format!(
            "        slot {:>3}  private {}  victim private {}",
            s.slot,
            opt(s.private),
            opt(s.victim_private)
        ));
        for (name, chain) in [("shared", &s.shared), ("victim", &s.victim)] {
            if chain.is_empty() {
                out.push(format!("          {name} chain: none"));
            }
            for (i, r) in chain.iter().enumerate() {
                out.push(format!("          {name} seg {i}: {}", ring_line(r)));
            }
        }
    }
    out
}

/// Puts Go's saved results beside each step of a sequential trace; the
/// first step where they differ from the reference's, in words.
fn add_go_column(trace: &mut [StepTrace], go: &crate::failure::GoCase) -> Option<String> {
    let mut first = None;
    for t in trace {
        let got = go.observed(t.index);
        if first.is_none() && got != t.reference.got {
            let msg = format!(
                "{}: Go {} ({} slots) got [{}], reference got [{}]",
                t.action,
                go.version,
                go.slots,
                items(&got),
                items(&t.reference.got)
            );
            if t.divergence.is_none() {
                t.divergence = Some(msg.clone());
            }
            first = Some(msg);
        }
        t.go = Some(got);
    }
    first
}

/// The report of a replay (also embedded in the HTML page).
#[derive(Serialize)]
struct Page<'a> {
    title: String,
    file: String,
    message: &'a str,
    seed: u64,
    mutant: Option<&'a str>,
    built_as: Option<String>,
    reproduced: String,
    kind: Kind,
    steps: &'a [StepTrace],
    concurrent: Option<&'a ConcHistory>,
    observed: Option<&'a ConcOutcome>,
    shuttle: Option<&'a ShuttleCase>,
    /// Shuttle: the replay command and what the replay printed.
    command: Option<String>,
    replay_excerpt: Vec<String>,
    /// The lesson of the mutant the failure was saved from, if it has one
    /// (`poolcheck explain`): the invariant, the DESIGN.md section and its
    /// anchor.
    lesson: Option<LessonInfo>,
}

/// The lesson named on a replay page.
#[derive(Serialize)]
struct LessonInfo {
    mutant: String,
    invariant: String,
    section: String,
    design: String,
}

/// The command that replays `path` with a poolcheck built as `mutant`
/// (`None`: the real core), when this binary is built otherwise; a failure
/// of the in-process harnesses only happens again in the build it came
/// from. (Shuttle failures build their test as the failure's mutant.)
fn needed_build(path: &Path, failure: &Failure, built: Option<&str>) -> Option<String> {
    if failure.kind == Kind::Shuttle || failure.mutant.as_deref() == built {
        return None;
    }
    let this = built.map_or_else(|| "the real core".to_string(), |m| format!("mutant {m}"));
    Some(match failure.mutant.as_deref() {
        Some(m) => format!(
            "saved by poolcheck built as mutant {m}, and this binary is {this}: \
it cannot happen here. Replay it with poolcheck built as {m}:\n    \
RUSTFLAGS='--cfg victim_pool_mutant=\"{m}\"' CARGO_TARGET_DIR=target/poolcheck/mutant-{m} \
cargo run --release -p victim-pool-verification --bin poolcheck -- replay {}",
            path.display()
        ),
        None => format!(
            "saved by poolcheck built from the real core, and this binary is {this}: \
replay it with a normal build:\n    \
cargo run --release -p victim-pool-verification --bin poolcheck -- replay {}",
            path.display()
        ),
    })
}

/// `poolcheck replay`: prints the replay, writes the page; whether the
/// failure happened again.
pub fn replay(path: &Path, html: Option<PathBuf>, attempts: usize) -> Result<bool, String> {
    let failure = load(path)?;
    let html_path = html.unwrap_or_else(|| path.with_extension("html"));
    let page_dir = html_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    crate::context::quiet_panics();
    let built = built_mutant();
    let mut out = String::new();
    let _ = writeln!(out, "poolcheck replay {}", path.display());
    let _ = writeln!(
        out,
        "  saved: {} failure, seed {}, {}",
        match failure.kind {
            Kind::Sequential => "sequential",
            Kind::Concurrent => "concurrent",
            Kind::Shuttle => "shuttle",
            Kind::Adversarial => "adversarial",
            Kind::GoDiff => "go-diff",
        },
        failure.seed,
        failure.message
    );
    let needed = needed_build(path, &failure, built.as_deref());
    if let Some(needed) = &needed {
        let _ = writeln!(out, "  note: {needed}");
    }
    let mut command = None;
    let mut replay_excerpt = Vec::new();
    // A shuttle failure's page: the explain renderer's, when the replay
    // wrote a trace.
    let mut drawn: Option<String> = None;
    let (trace, reproduced, happened) = match failure.kind {
        Kind::Shuttle => {
            let case = failure.shuttle.as_ref().ok_or("no shuttle case")?;
            let cmd = case.command(failure.mutant.as_deref());
            let _ = writeln!(out, "  test: {}", case.test);
            let _ = writeln!(
                out,
                "  schedule: {}",
                case.schedule.as_deref().unwrap_or("(none recorded)")
            );
            let _ = writeln!(out, "  recorded run:");
            for l in &case.excerpt {
                let _ = writeln!(out, "    {l}");
            }
            let _ = writeln!(out, "  replaying: {cmd}");
            print!("{out}");
            out.clear();
            let ctx = crate::context::ctx(false, true)?;
            let trace_dir = ctx.out.join("shuttle-fuzz");
            std::fs::create_dir_all(&trace_dir)
                .map_err(|e| format!("cannot create {}: {e}", trace_dir.display()))?;
            let trace_file = trace_dir
                .canonicalize()
                .map_err(|e| format!("cannot resolve {}: {e}", trace_dir.display()))?
                .join("replay.trace");
            let (failed, excerpt, log) = shuttle_fuzz::replay(
                &ctx.root,
                &ctx.out,
                case,
                &trace_file,
                &indicatif::ProgressBar::hidden(),
            );
            // The failing execution, drawn as `poolcheck explain` draws a
            // lesson (one lane per thread, every shared-memory event).
            if failed {
                if let Ok(text) = std::fs::read_to_string(&trace_file) {
                    let trace = crate::trace::parse(&text, &ctx.root)?;
                    let m = crate::mutants::Mutant {
                        name: failure
                            .mutant
                            .clone()
                            .unwrap_or_else(|| "the real core".to_string()),
                        tool: "shuttle".to_string(),
                        test: case.test.clone(),
                        rule: failure.message.clone(),
                    };
                    let lesson = failure.mutant.as_deref().and_then(crate::lessons::lesson);
                    let color = std::io::IsTerminal::is_terminal(&std::io::stdout());
                    let _ = writeln!(
                        out,
                        "  the failing execution (trace {}):",
                        trace_file.display()
                    );
                    let focus = crate::trace::focus(&trace, &m.name, &ctx.root);
                    out.push_str(&crate::trace::terminal(
                        &trace, &focus, lesson, &m.rule, color,
                    ));
                    drawn = Some(crate::trace::html(&trace, &m, lesson, &ctx.root, &page_dir));
                }
            }
            for l in &excerpt {
                let _ = writeln!(out, "    {l}");
            }
            command = Some(cmd);
            replay_excerpt = excerpt;
            let reproduced = if failed {
                format!(
                    "reproduced: the test fails again under the schedule (log {})",
                    log.display()
                )
            } else {
                format!(
                    "did NOT reproduce: the test passed or did not run under the schedule (log {})",
                    log.display()
                )
            };
            (Vec::new(), reproduced, failed)
        }
        Kind::Sequential | Kind::GoDiff => {
            let h = failure.history.as_ref().ok_or("no history")?;
            let mut outcome = history::run(h, true);
            let _ = writeln!(out, "  config: {:?}", h.config);
            let go_divergence = failure.go.as_ref().and_then(|go| {
                let _ = writeln!(
                    out,
                    "  Go column: {} with {} slots (GOMAXPROCS), as saved",
                    go.version, go.slots
                );
                add_go_column(&mut outcome.trace, go)
            });
            for t in &outcome.trace {
                let idx = t
                    .index
                    .map_or_else(|| " end".to_string(), |i| format!("{i:>4}"));
                let mark = if t.divergence.is_some() {
                    "DIVERGES"
                } else {
                    "ok"
                };
                let _ = writeln!(
                    out,
                    "  {idx}  {:<18} lock-free: got [{}] dropped {:?} ({})  reference: got [{}] dropped {:?}  {mark}",
                    t.action,
                    items(&t.lock_free.got),
                    t.lock_free.dropped,
                    t.lock_free_paths,
                    items(&t.reference.got),
                    t.reference.dropped,
                );
                if let Some(go) = &t.go {
                    let _ = writeln!(out, "        Go sync.Pool: got [{}]", items(go));
                }
                if t.index.is_some() {
                    let _ = writeln!(out, "      reference:");
                    for line in state_lines(&t.state) {
                        let _ = writeln!(out, "{line}");
                    }
                    if let Some(lf) = &t.lock_free_state {
                        for line in lock_free_lines(lf) {
                            let _ = writeln!(out, "{line}");
                        }
                    }
                    if !t.held.is_empty() {
                        let _ = writeln!(out, "      held: {:?}", t.held);
                    }
                }
                if let Some(d) = &t.divergence {
                    let _ = writeln!(out, "      >>> {d}");
                }
            }
            // A go-diff failure is the reference disagreeing with Go's saved
            // results: it happened again when they still disagree.
            let happened = outcome.divergence.is_some() || go_divergence.is_some();
            let reproduced = match (&outcome.divergence, go_divergence) {
                (Some((at, msg)), _) => format!(
                    "reproduced at {}: {msg}",
                    at.map_or_else(|| "the end checks".to_string(), |i| format!("step {i}"))
                ),
                (None, Some(msg)) => format!(
                    "lock-free and reference agree on every step; Go (saved results) differs: {msg}"
                ),
                (None, None) => {
                    "did NOT reproduce: the implementations agree on every step".to_string()
                }
            };
            (outcome.trace, reproduced, happened)
        }
        Kind::Adversarial => {
            let (config, threads, ops) = crate::fuzz::adversarial_setup(failure.seed);
            let _ = writeln!(
                out,
                "  adversary: {threads} threads x {ops} steps, {config:?}"
            );
            let mut hits = 0;
            for _ in 0..attempts {
                if crate::fuzz::one_adversarial(failure.seed).is_some() {
                    hits += 1;
                }
            }
            (
                Vec::new(),
                format!(
                    "adversarial run re-run {attempts} times on real threads: a violation recurred {hits} times (scheduling is not deterministic)"
                ),
                hits > 0,
            )
        }
        Kind::Concurrent => {
            let h = failure.concurrent.as_ref().ok_or("no concurrent history")?;
            if let Some(obs) = &failure.observed {
                for (t, r) in obs.threads.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "  thread {t} (slot {}): {}",
                        r.slot,
                        r.results.join(", ")
                    );
                }
                for (slot, ids) in &obs.drained {
                    let _ = writeln!(out, "  drained as slot {slot}: {ids:x?}");
                }
            }
            let mut hits = 0;
            for _ in 0..attempts {
                if conc::run(h).violation.is_some() {
                    hits += 1;
                }
            }
            (
                Vec::new(),
                format!(
                    "concurrent history re-run {attempts} times on real threads: the violation reproduced {hits} times (scheduling is not deterministic; the recorded run is shown)"
                ),
                hits > 0,
            )
        }
    };
    let _ = writeln!(out, "  {reproduced}");
    if let (false, Some(needed)) = (happened, &needed) {
        let _ = writeln!(out, "  why: {needed}");
    }
    print!("{out}");

    let lesson = failure
        .mutant
        .as_deref()
        .and_then(crate::lessons::lesson)
        .map(|l| LessonInfo {
            mutant: l.mutant.to_string(),
            invariant: l.invariant.to_string(),
            section: l.section.to_string(),
            design: crate::context::ctx(false, true)
                .map(|c| crate::lessons::design_link(&c.root, &page_dir, l.section))
                .unwrap_or_default(),
        });
    if let Some(l) = &lesson {
        let what = if happened {
            "broken"
        } else {
            "the rule it broke"
        };
        println!(
            "  \u{2717} {what}: {} (DESIGN.md \u{a7}{})",
            l.invariant, l.section
        );
    }
    let page = Page {
        title: format!("poolcheck replay: {}", path.display()),
        file: path.display().to_string(),
        message: &failure.message,
        seed: failure.seed,
        mutant: failure.mutant.as_deref(),
        built_as: built,
        reproduced,
        kind: failure.kind,
        steps: &trace,
        concurrent: failure.concurrent.as_ref(),
        observed: failure.observed.as_ref(),
        shuttle: failure.shuttle.as_ref(),
        command,
        replay_excerpt,
        lesson,
    };
    let json = serde_json::to_string(&page)
        .map_err(|e| e.to_string())?
        .replace("</", "<\\/");
    let page = drawn.unwrap_or_else(|| crate::html::PAGE.replace("/*DATA*/null", &json));
    std::fs::write(&html_path, page)
        .map_err(|e| format!("cannot write {}: {e}", html_path.display()))?;
    println!("  HTML: {}", html_path.display());
    Ok(happened)
}
