//! `poolcheck explain MUTANT` for a mutant killed by an ordinary test (the
//! `test` checker of verification/mutants.txt): the rules about user code,
//! panics and the API, which break without any interleaving.
//!
//! Builds the mutant, runs the catalogue's test with `RUST_BACKTRACE=1`
//! (one test thread, so the output is in order), and reads every panic of
//! the failing run — the core's own checks ("called from inside a pool
//! operation"), a panic that escaped the pool, the test's assertion — with
//! its stack. Each becomes a column of calls, outermost first, drawn by
//! the same renderer as the loom and shuttle traces: a pool frame (`src/`)
//! is an operation of the pool, a test frame (`tests/`) is user code or the
//! test itself; user code called from inside a pool frame is highlighted,
//! and the panic is the red step where the rule is seen broken.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::context::Ctx;
use crate::lessons::{out_dir, run_logged, wrapper};
use crate::mutants::Mutant;
use crate::trace::{self, Event, Trace};

/// A test that outlives this is stopped and counted as failing.
const TIMEOUT: Duration = Duration::from_secs(300);
/// At most this many distinct panics are drawn.
const MAX_PANICS: usize = 6;

/// One panic of the run.
#[derive(Debug, PartialEq)]
pub struct Panic {
    /// The panicking thread's name.
    pub thread: String,
    /// Where it panicked (`src/pool/slot.rs:424`).
    pub at: String,
    /// The message.
    pub message: String,
    /// The frames in the workspace, outermost first: (function, file:line).
    pub frames: Vec<(String, String)>,
    /// Not a panic: a test's note that user code runs here (or that a
    /// check failed where no panic can report it).
    pub user_code: bool,
}

/// `file:line:col` (or `./file:line:col`) as `file:line`.
fn file_line(path: &str) -> Option<String> {
    let path = path.trim().trim_start_matches("./");
    let (file_line, col) = path.rsplit_once(':')?;
    col.parse::<u32>().ok()?;
    let (_, line) = file_line.rsplit_once(':')?;
    line.parse::<u32>().ok()?;
    Some(file_line.to_string())
}

/// The panics of a test run's output (`RUST_BACKTRACE=1` format), in order.
pub fn panics(output: &str) -> Vec<Panic> {
    let lines: Vec<&str> = output.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let Some(rest) = line.strip_prefix("thread '") else {
            continue;
        };
        let Some((thread, rest)) = rest.split_once('\'') else {
            continue;
        };
        // A panic, or a test's note of the calls that led to user code
        // (`calls user code: …`, tests/common `explain_call`).
        let (at, mut message) = if let Some((_, at)) = rest.split_once(" panicked at ") {
            let at = at.trim_end_matches(':');
            (file_line(at).unwrap_or_else(|| at.to_string()), Vec::new())
        } else if let Some((_, what)) = rest.split_once(" calls user code: ") {
            (String::new(), vec![what])
        } else {
            continue;
        };
        let user_code = !message.is_empty();
        while i < lines.len() && lines[i] != "stack backtrace:" && !lines[i].starts_with("note:") {
            if lines[i].starts_with("thread '") {
                break;
            }
            message.push(lines[i]);
            i += 1;
        }
        let mut frames = Vec::new();
        if i < lines.len() && lines[i] == "stack backtrace:" {
            i += 1;
            let mut function = String::new();
            while i < lines.len() {
                let l = lines[i].trim_start();
                if let Some(path) = l.strip_prefix("at ") {
                    if path.starts_with("./") {
                        if let Some(fl) = file_line(path) {
                            frames.push((function.clone(), fl));
                        }
                    }
                } else if let Some((n, f)) = l.split_once(": ") {
                    if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() {
                        // The full format has `0x… - ` before the name.
                        let f = f.trim();
                        function = f.split_once(" - ").map_or(f, |(_, f)| f).to_string();
                    } else {
                        break;
                    }
                } else {
                    break;
                }
                i += 1;
            }
        }
        frames.reverse();
        // A note's place is its innermost frame outside the helper.
        let at = if user_code {
            frames
                .iter()
                .rev()
                .find(|(f, _)| !f.contains("explain_call"))
                .map_or_else(String::new, |(_, at)| at.clone())
        } else {
            at
        };
        out.push(Panic {
            thread: thread.to_string(),
            at,
            message: message.join(" ").trim().to_string(),
            frames,
            user_code,
        });
    }
    out
}

/// `<soundness::Reentrant as core::ops::drop::Drop>::drop` gives
/// `<Reentrant as Drop>::drop`; `victim_pool::pool::Pool<T>::put` gives
/// `Pool<T>::put`.
fn short_function(f: &str) -> String {
    let mut out = String::new();
    for token in f.split_inclusive(['<', '>', ' ', ',']) {
        let (word, sep) = match token.char_indices().last() {
            Some((i, c)) if "<> ,".contains(c) => (&token[..i], &token[i..]),
            _ => (token, ""),
        };
        // A path keeps its last segment (`core::ops::drop::Drop` is
        // `Drop`); what follows a type (`::put_in::{{closure}}`) stays.
        let keep = if word.starts_with("::") {
            word
        } else {
            word.rsplit("::").next().unwrap_or(word)
        };
        out.push_str(keep);
        out.push_str(sep);
    }
    out
}

/// The trace of a test run's panics: one lane per panicking thread, each
/// panic its calls (outermost first) and then the panic.
pub fn trace(panics: &[Panic], root: &std::path::Path) -> Trace {
    let mut names: Vec<String> = Vec::new();
    let mut events = Vec::new();
    let mut seen: Vec<(&str, &[(String, String)])> = Vec::new();
    let mut last_message = String::new();
    for p in panics {
        // The same panic on several threads (one per worker) is drawn once.
        if seen
            .iter()
            .any(|(m, f)| *m == p.message.as_str() && *f == p.frames.as_slice())
        {
            continue;
        }
        if seen.len() == MAX_PANICS {
            break;
        }
        seen.push((&p.message, &p.frames));
        let thread = match names.iter().position(|n| *n == p.thread) {
            Some(t) => t,
            None => {
                names.push(p.thread.clone());
                names.len() - 1
            }
        };
        let mut in_pool = false;
        // Frames of the workspace's own files (not a C library's `./…`).
        let frames = p
            .frames
            .iter()
            .filter(|(_, at)| at.split(':').next().is_some_and(|f| root.join(f).is_file()));
        let frames = frames.filter(|(f, _)| !f.contains("explain_call"));
        for (function, at) in frames {
            let pool = at.starts_with("src/");
            // User code (a test's Drop, Clone, hook) called while a pool
            // frame is still on the stack: inside an operation or a lock.
            let inside = !pool && in_pool;
            in_pool |= pool;
            let role = match (pool, inside) {
                (true, _) => "pool",
                (false, true) => "user code, called by the pool",
                (false, false) => "test",
            };
            events.push(event(
                events.len(),
                thread,
                "call",
                format!("{} ({role})", short_function(function)),
                at,
                root,
                inside,
                false,
            ));
        }
        if p.user_code {
            events.push(event(
                events.len(),
                thread,
                "note",
                format!("▶ {}", p.message),
                &p.at,
                root,
                true,
                false,
            ));
            continue;
        }
        events.push(event(
            events.len(),
            thread,
            "panic",
            format!("PANIC: {}", p.message),
            &p.at,
            root,
            false,
            true,
        ));
        last_message.clone_from(&p.message);
    }
    let threads = (0..names.len()).collect();
    Trace {
        objects: Vec::new(),
        rings: vec![Vec::new(); events.len()],
        events,
        panic: last_message,
        threads,
        thread_names: names,
    }
}

#[allow(clippy::too_many_arguments)]
fn event(
    step: usize,
    thread: usize,
    op: &str,
    text: String,
    at: &str,
    root: &std::path::Path,
    stale: bool,
    racing: bool,
) -> Event {
    Event {
        step,
        thread,
        obj: None,
        op: op.to_string(),
        ordering: "-".to_string(),
        value: None,
        value2: None,
        at: at.to_string(),
        code: trace::source_line(root, at),
        stale,
        latest: None,
        racing,
        freed: Vec::new(),
        uaf: false,
        text,
    }
}

/// `poolcheck explain MUTANT` for the `test` checker.
pub fn explain(ctx: &Ctx, m: &Mutant, html_out: Option<PathBuf>) -> Result<i32, String> {
    let dir = out_dir(ctx)?;
    let log = dir.join(format!("{}.log", m.name));
    let mut args: Vec<String> = m.test.split_whitespace().map(str::to_string).collect();
    if !args.iter().any(|a| a == "--") {
        args.push("--".to_string());
    }
    args.push("--test-threads=1".to_string());
    // A forked child writes to the real stderr only.
    args.push("--nocapture".to_string());
    eprintln!(
        "poolcheck explain: building {} and running cargo test {} with backtraces (log: {})",
        m.name,
        args.join(" "),
        log.display()
    );
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&ctx.root)
        .arg("test")
        .args(&args)
        .env("CARGO_TARGET_DIR", dir.join("test"))
        .env("RUSTC_WORKSPACE_WRAPPER", wrapper(ctx, &m.name)?)
        .env("RUST_BACKTRACE", "1")
        .env("VICTIM_POOL_EXPLAIN", "1");
    let (status, output) = run_logged(cmd, &log, &m.name, TIMEOUT)?;
    if status.is_some_and(|s| s.success()) {
        println!(
            "{}: SURVIVED: cargo test {} passed, so there is no failure to draw",
            m.name, m.test
        );
        return Ok(1);
    }
    if output.contains("error: could not compile") {
        return Err(format!("{} does not build; see {}", m.name, log.display()));
    }
    let found = panics(&output);
    if found.is_empty() {
        return Err(format!(
            "{}: the test failed{} without a panic to draw; see {}",
            m.name,
            if status.is_none() { " (timed out)" } else { "" },
            log.display()
        ));
    }
    let trace = trace(&found, &ctx.root);
    let html_out = html_out.unwrap_or_else(|| dir.join(format!("{}.html", m.name)));
    trace::draw(ctx, m, &trace, &html_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
running 1 test
thread 'a_test' (12995) panicked at src/pool/slot.rs:424:5:
victim-pool bug: release_thread_slot called from inside a pool operation
stack backtrace:
   0: __rustc::rust_begin_unwind
             at /rustc/abc/library/std/src/panicking.rs:689:5
   2: victim_pool::pool::slot::assert_outside_operation
             at ./src/pool/slot.rs:424:5
   4: <soundness::Reentrant as core::ops::drop::Drop>::drop
             at ./tests/soundness.rs:31:13
   8: victim_pool::pool::Pool<T>::put
             at ./src/pool/mod.rs:210:50
   9: soundness::a_test
             at ./tests/soundness.rs:49:9
note: Some details are omitted.
thread 'a_test' (12995) panicked at tests/soundness.rs:60:5:
assertion failed
";

    #[test]
    fn a_note_of_user_code_is_read() {
        let output = "thread 'main' calls user code: T::clone under the lock
stack backtrace:
   0: common::explain_call
             at ./tests/common/mod.rs:20:9
   1: <process_wide::CleansOnClone as core::clone::Clone>::clone
             at ./tests/process_wide.rs:100:9
   2: victim_pool::pool::Pool<T>::snapshot
             at ./src/pool/mod.rs:351:13
";
        let p = panics(output);
        assert_eq!(p.len(), 1);
        assert!(p[0].user_code);
        assert_eq!(p[0].at, "tests/process_wide.rs:100");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let t = trace(&p, &root);
        let ops: Vec<&str> = t.events.iter().map(|e| e.op.as_str()).collect();
        assert_eq!(ops, ["call", "call", "note"]);
        assert!(t.events[1].stale, "Clone called by Pool::snapshot");
    }

    #[test]
    fn panics_and_their_calls_are_read() {
        let p = panics(OUTPUT);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].thread, "a_test");
        assert_eq!(p[0].at, "src/pool/slot.rs:424");
        assert!(p[0].message.contains("inside a pool operation"));
        let files: Vec<&str> = p[0].frames.iter().map(|(_, f)| f.as_str()).collect();
        assert_eq!(
            files,
            [
                "tests/soundness.rs:49",
                "src/pool/mod.rs:210",
                "tests/soundness.rs:31",
                "src/pool/slot.rs:424"
            ]
        );
        assert!(p[1].frames.is_empty());
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let t = trace(&p, &root);
        // 4 calls + panic, then the assertion's panic.
        assert_eq!(t.events.len(), 6);
        assert!(
            t.events[2].stale,
            "the Drop inside Pool::put is user code inside the pool"
        );
        assert!(
            t.events[2].text.starts_with("<Reentrant as Drop>::drop"),
            "{}",
            t.events[2].text
        );
        assert!(t.events[4].racing && t.events[5].racing);
    }
}
