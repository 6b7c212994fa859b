//! `poolcheck replay FILE`: re-runs a saved failure and renders it in the
//! terminal and as a self-contained HTML page.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::conc::{self, ConcHistory, ConcOutcome};
use crate::fuzz::{built_mutant, Failure, Kind, FORMAT};
use crate::history::{self, LocalState, ModelState, StepTrace};

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
}

/// `poolcheck replay`. Returns the path of the HTML page.
pub fn replay(path: &Path, html: Option<PathBuf>, attempts: usize) -> Result<PathBuf, String> {
    let failure = load(path)?;
    crate::quiet_panics();
    let built = built_mutant();
    let mut out = String::new();
    let _ = writeln!(out, "poolcheck replay {}", path.display());
    let _ = writeln!(
        out,
        "  saved: {} failure, seed {}, {}",
        match failure.kind {
            Kind::Sequential => "sequential",
            Kind::Concurrent => "concurrent",
        },
        failure.seed,
        failure.message
    );
    if failure.mutant != built {
        let _ = writeln!(
            out,
            "  note: saved from a build with VICTIM_POOL_MUTANT={}, this binary is {}: rebuild with the same mutant to reproduce",
            failure.mutant.as_deref().unwrap_or("(none)"),
            built.as_deref().unwrap_or("the real core"),
        );
    }
    let (trace, reproduced) = match failure.kind {
        Kind::Sequential => {
            let h = failure.history.as_ref().ok_or("no history")?;
            let outcome = history::run(h, true);
            let _ = writeln!(out, "  config: {:?}", h.config);
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
                if t.index.is_some() {
                    for line in state_lines(&t.state) {
                        let _ = writeln!(out, "{line}");
                    }
                    if !t.held.is_empty() {
                        let _ = writeln!(out, "      held: {:?}", t.held);
                    }
                }
                if let Some(d) = &t.divergence {
                    let _ = writeln!(out, "      >>> {d}");
                }
            }
            let reproduced = match &outcome.divergence {
                Some((at, msg)) => format!(
                    "reproduced at {}: {msg}",
                    at.map_or_else(|| "the end checks".to_string(), |i| format!("step {i}"))
                ),
                None => "did NOT reproduce: both implementations agree on every step".to_string(),
            };
            (outcome.trace, reproduced)
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
            )
        }
    };
    let _ = writeln!(out, "  {reproduced}");
    print!("{out}");

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
    };
    let json = serde_json::to_string(&page)
        .map_err(|e| e.to_string())?
        .replace("</", "<\\/");
    let html_path = html.unwrap_or_else(|| path.with_extension("html"));
    let page = crate::html::PAGE.replace("/*DATA*/null", &json);
    std::fs::write(&html_path, page)
        .map_err(|e| format!("cannot write {}: {e}", html_path.display()))?;
    println!("  HTML: {}", html_path.display());
    Ok(html_path)
}
