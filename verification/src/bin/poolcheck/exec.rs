//! Running `cargo test` as a subprocess: live parsing of libtest output into
//! a progress bar, a full log on disk, and a deadline (the whole process
//! group is killed when it passes).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::Serialize;

/// How a stage (or one test) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Succeeded.
    Passed,
    /// A test failed (or the process exited non-zero).
    Failed,
    /// The code did not compile.
    BuildError,
    /// Killed at the deadline.
    TimedOut,
    /// Not run (tool missing, or not part of this tier).
    Skipped,
}

impl Status {
    /// Whether this counts as a failure of the job.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Failed | Status::BuildError | Status::TimedOut)
    }

    /// For tables.
    pub fn label(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "FAILED",
            Status::BuildError => "BUILD ERROR",
            Status::TimedOut => "TIMED OUT",
            Status::Skipped => "skipped",
        }
    }
}

/// One libtest test.
#[derive(Clone, Debug, Serialize)]
pub struct TestCase {
    /// The test binary (`loom`, `differential`, `lib`, …).
    pub binary: String,
    /// The test's name.
    pub name: String,
    /// `ok`, `FAILED` or `ignored`.
    pub outcome: String,
}

/// The result of one subprocess.
#[derive(Clone, Debug, Serialize)]
pub struct ExecResult {
    /// How it ended.
    pub status: Status,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Every test seen.
    pub tests: Vec<TestCase>,
    /// Wall time.
    pub seconds: f64,
    /// The full output.
    pub log: PathBuf,
    /// First lines of interest (panics, errors), for the report.
    pub excerpt: Vec<String>,
}

fn binary_of(line: &str) -> Option<String> {
    // "     Running tests/loom.rs (target/.../loom-0123abcd)"
    // "     Running unittests src/lib.rs (...)"
    let rest = line.trim_start().strip_prefix("Running ")?;
    let path = rest.split_whitespace().find(|w| w.ends_with(".rs"))?;
    if path.contains("unittests") || rest.starts_with("unittests") {
        return Some("lib".to_string());
    }
    let file = Path::new(path).file_stem()?.to_string_lossy().to_string();
    Some(if file == "lib" {
        "lib".to_string()
    } else {
        file
    })
}

/// Runs `cmd` (in its own process group) until it exits or `deadline`.
pub fn run(mut cmd: Command, log: &Path, deadline: Instant, bar: &ProgressBar) -> ExecResult {
    let start = Instant::now();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut file = std::fs::File::create(log).ok();
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .process_group(0);
    let fail = |msg: String| ExecResult {
        status: Status::Failed,
        code: None,
        tests: Vec::new(),
        seconds: start.elapsed().as_secs_f64(),
        log: log.to_path_buf(),
        excerpt: vec![msg],
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start {:?}: {e}", cmd.get_program())),
    };
    let (tx, rx) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        }));
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        }));
    }
    drop(tx);
    let mut tests = Vec::new();
    let mut binary = String::from("?");
    let mut pending: Option<String> = None;
    let mut build_error = false;
    let mut timed_out = false;
    let mut excerpt = Vec::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            // Kill the whole group: cargo and the test binary it started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            break;
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_millis(250))) {
            Ok(line) => {
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                let t = line.trim();
                if let Some(b) = binary_of(&line) {
                    binary = b;
                    bar.set_message(format!("running {binary}"));
                } else if t.starts_with("Compiling ") || t.starts_with("Checking ") {
                    bar.set_message(t.to_string());
                } else if let Some(n) = t
                    .strip_prefix("running ")
                    .and_then(|r| r.strip_suffix(" tests").or_else(|| r.strip_suffix(" test")))
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    bar.inc_length(n);
                } else if let Some(rest) = t.strip_prefix("test ") {
                    if let Some((name, result)) = rest.split_once(" ... ") {
                        let result = result.trim();
                        if result.is_empty() {
                            pending = Some(name.to_string());
                        } else {
                            record(&mut tests, &binary, name, result, bar);
                        }
                    } else if let Some(name) = rest.strip_suffix(" ...") {
                        pending = Some(name.to_string());
                    }
                } else if pending.is_some()
                    && (t == "ok" || t == "FAILED" || t.starts_with("ignored"))
                {
                    let name = pending.take().unwrap_or_default();
                    record(&mut tests, &binary, &name, t, bar);
                }
                if t.starts_with("error[E") || t.starts_with("error: could not compile") {
                    build_error = true;
                }
                if (t.contains("panicked at")
                    || t.starts_with("error")
                    || t.contains("Causality violation")
                    || t.contains("failing schedule"))
                    && excerpt.len() < 8
                {
                    excerpt.push(t.chars().take(300).collect());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().ok();
    for r in readers {
        let _ = r.join();
    }
    let code = status.and_then(|s| s.code());
    let status = if timed_out {
        Status::TimedOut
    } else if build_error {
        Status::BuildError
    } else if code == Some(0) {
        Status::Passed
    } else {
        Status::Failed
    };
    ExecResult {
        status,
        code,
        tests,
        seconds: start.elapsed().as_secs_f64(),
        log: log.to_path_buf(),
        excerpt,
    }
}

fn record(tests: &mut Vec<TestCase>, binary: &str, name: &str, result: &str, bar: &ProgressBar) {
    let outcome = if result.starts_with("ok") {
        "ok"
    } else if result.starts_with("FAILED") {
        "FAILED"
    } else if result.starts_with("ignored") {
        "ignored"
    } else {
        return;
    };
    tests.push(TestCase {
        binary: binary.to_string(),
        name: name.to_string(),
        outcome: outcome.to_string(),
    });
    bar.inc(1);
    bar.set_message(format!("{binary}::{name} {outcome}"));
}
