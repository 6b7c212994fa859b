//! The `poolcheck` CLI, run as a subprocess: bad input gets a one-line
//! error and exit code 2 (never a panic trace); fuzz and replay work end to
//! end on the real core.
#![cfg(not(any(loom, shuttle)))]

use std::path::PathBuf;
use std::process::{Command, Output};

fn poolcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_poolcheck"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run poolcheck")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("poolcheck-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Exit code 2, exactly one stderr line `poolcheck: error: …` containing
/// `needle`, and no panic output.
fn assert_bad_input(args: &[&str], needle: &str) {
    let out = poolcheck(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: status {:?}, stderr {stderr}",
        out.status
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: expected one stderr line, got {stderr:?}"
    );
    assert!(
        lines[0].starts_with("poolcheck: error: "),
        "{args:?}: {stderr:?}"
    );
    assert!(
        lines[0].contains(needle),
        "{args:?}: {stderr:?} lacks {needle:?}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn missing_replay_file() {
    assert_bad_input(
        &["replay", "/nonexistent/poolcheck/failure.json"],
        "cannot read replay file",
    );
}

#[test]
fn corrupt_replay_files() {
    let dir = scratch("corrupt");
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, b"\x00\x01 not json {").unwrap();
    assert_bad_input(
        &["replay", garbage.to_str().unwrap()],
        "is not a poolcheck failure file",
    );

    let other = dir.join("other.json");
    std::fs::write(&other, r#"{"hello": "world"}"#).unwrap();
    assert_bad_input(
        &["replay", other.to_str().unwrap()],
        "is not a poolcheck failure file",
    );

    let wrong_format = dir.join("format.json");
    std::fs::write(
        &wrong_format,
        r#"{"format":"poolcheck-failure/999","kind":"sequential","seed":1,"mutant":null,"message":"x","history":{"config":{"max_per_thread":null,"new_fn":false},"steps":[]}}"#,
    )
    .unwrap();
    assert_bad_input(
        &["replay", wrong_format.to_str().unwrap()],
        "unsupported format",
    );

    let no_history = dir.join("nohistory.json");
    std::fs::write(
        &no_history,
        r#"{"format":"poolcheck-failure/1","kind":"sequential","seed":1,"mutant":null,"message":"x"}"#,
    )
    .unwrap();
    assert_bad_input(
        &["replay", no_history.to_str().unwrap()],
        "without a \"history\"",
    );

    let truncated = dir.join("truncated.json");
    std::fs::write(&truncated, r#"{"format":"poolcheck-failure/1","kind":"seq"#).unwrap();
    assert_bad_input(
        &["replay", truncated.to_str().unwrap()],
        "is not a poolcheck failure file",
    );
}

#[test]
fn unknown_mutant() {
    assert_bad_input(
        &["mutants", "--only", "no_such_mutant"],
        "unknown mutant \"no_such_mutant\"",
    );
}

#[test]
fn zero_and_invalid_budgets() {
    assert_bad_input(
        &["run", "--budget", "0"],
        "budget must be greater than zero",
    );
    assert_bad_input(
        &["fuzz", "--budget", "0s"],
        "budget must be greater than zero",
    );
    assert_bad_input(
        &["mutants", "--budget", "0m"],
        "budget must be greater than zero",
    );
    assert_bad_input(&["fuzz", "--budget", "ten minutes"], "invalid duration");
    assert_bad_input(
        &["fuzz", "--budget"],
        "a value is required for '--budget <DURATION>'",
    );
}

#[test]
fn unknown_tier_subcommand_and_flags() {
    assert_bad_input(&["run", "--tier", "medium"], "unknown tier \"medium\"");
    assert_bad_input(&["frobnicate"], "unrecognized subcommand 'frobnicate'");
    assert_bad_input(&[], "missing subcommand");
    assert_bad_input(
        &["fuzz", "--threads", "0"],
        "--threads must be a positive integer",
    );
    assert_bad_input(
        &["fuzz", "--seed", "-1"],
        "--seed must be an unsigned integer",
    );
    assert_bad_input(
        &["fuzz", "--seed", "--threads"],
        "a value is required for '--seed <S>'",
    );
    assert_bad_input(
        &["run", "--frobnicate"],
        "unexpected argument '--frobnicate'",
    );
    assert_bad_input(
        &["fuzz", "--seed", "x"],
        "--seed must be an unsigned integer",
    );
    assert_bad_input(&["replay"], "missing FILE");
}

/// Exit code 0, `needle` on stdout, nothing on stderr.
fn assert_prints(args: &[&str], needle: &str) -> String {
    let out = poolcheck(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout} {stderr}");
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
    assert!(
        stdout.contains(needle),
        "{args:?}: {stdout:?} lacks {needle:?}"
    );
    stdout
}

#[test]
fn help_and_version() {
    let version = format!("poolcheck {}", env!("CARGO_PKG_VERSION"));
    assert_prints(&["--version"], &version);
    assert_prints(&["-V"], &version);
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let text = assert_prints(args, "Usage: poolcheck <COMMAND>");
        for cmd in ["run", "fuzz", "replay", "mutants"] {
            assert!(
                text.contains(&format!("\n  {cmd} ")),
                "{args:?} lacks {cmd}: {text}"
            );
        }
    }
    // Every subcommand, in all three spellings, has its own help with
    // examples of that subcommand.
    for cmd in ["run", "fuzz", "go-diff", "replay", "mutants"] {
        for args in [vec![cmd, "--help"], vec![cmd, "-h"], vec!["help", cmd]] {
            let text = assert_prints(&args, &format!("Usage: poolcheck {cmd} "));
            assert!(
                text.contains(&format!("Examples:\n  poolcheck {cmd}")),
                "{args:?}: {text}"
            );
        }
    }
}

#[test]
fn equals_form_of_options() {
    // `--budget=5s` (and the other `--flag=value` forms) parse like
    // `--budget 5s`; bad values are still caught.
    assert_bad_input(&["fuzz", "--budget=0s"], "budget must be greater than zero");
    assert_bad_input(&["run", "--tier=medium"], "unknown tier \"medium\"");
    let dir = scratch("equals");
    let out = poolcheck(&[
        "fuzz",
        "--budget=1s",
        "--threads=1",
        "--seed=3",
        "--no-progress",
        &format!("--dir={}", dir.display()),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("on 1 threads; seed 3"), "{stdout}");
    assert!(stdout.contains("no failures"), "{stdout}");
}

#[test]
fn fuzz_real_core_finds_nothing() {
    let dir = scratch("fuzz");
    let out = poolcheck(&[
        "fuzz",
        "--budget",
        "2s",
        "--threads",
        "1",
        "--seed",
        "7",
        "--no-progress",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout {stdout} stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no failures"), "{stdout}");
    // It ran histories of both kinds (how many depends on the machine's
    // load: throughput is for the benchmarks, not for a test to assert).
    let count = |label: &str| -> u64 {
        let before = stdout.split(label).next().unwrap_or("");
        before
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(count(" sequential histories") > 0, "{stdout}");
    assert!(count(" concurrent histories") > 0, "{stdout}");
}

#[test]
fn replay_renders_terminal_and_html() {
    let dir = scratch("replay");
    let file = dir.join("seq.json");
    // slot 0 puts two items, slot 1 steals one, a cleanup, slot 2 takes
    // from the victim: every step agrees on the real core.
    std::fs::write(
        &file,
        r#"{"format":"poolcheck-failure/1","kind":"sequential","seed":42,"mutant":null,
            "message":"hand-written","history":{"config":{"max_per_thread":null,"new_fn":false},
            "steps":[{"slot":0,"op":"put"},{"slot":0,"op":"put"},{"slot":1,"op":"get"},
                     {"slot":0,"op":"cleanup"},{"slot":2,"op":"get"},{"slot":2,"op":"get"}]}}"#,
    )
    .unwrap();
    let html = dir.join("page.html");
    let out = poolcheck(&[
        "replay",
        file.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Nothing diverges on the real core: the failure did not happen again.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Put 0 goes to slot 0's private, Put 1 to its shared chain: slot 1's
    // Get steals item 1.
    assert!(stdout.contains("slot 1 Get"), "{stdout}");
    assert!(stdout.contains("lock-free: got [1]"), "{stdout}");
    assert!(stdout.contains("(steal)"), "{stdout}");
    // After the cleanup, slot 2 finds nothing in primary: item 0 is the
    // victim private of slot 0, unreachable for slot 2.
    assert!(stdout.contains("priv 0 shared []"), "{stdout}");
    assert!(stdout.contains("did NOT reproduce"), "{stdout}");
    // The lock-free side's internals (Pool::snapshot) after each step.
    // After step 1: slot 0's private is item 0, its shared chain is one
    // 8-slot ring holding item 1 at the tail, head at ring slot 1.
    assert!(
        stdout.contains("lock-free internals (cleanups 0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("slot   0  private 0  victim private ·"),
        "{stdout}"
    );
    assert!(
        stdout.contains("shared seg 0: head 1 tail 0 (1 of 8) [t>1 h>· ·×6]"),
        "{stdout}"
    );
    // Slot 1 stole item 1 from the tail: tail moves to 1, the cell clears.
    assert!(
        stdout.contains("shared seg 0: head 1 tail 1 (0 of 8) [· th>· ·×6]"),
        "{stdout}"
    );
    // The cleanup moves private and chain to the victim generation.
    assert!(
        stdout.contains("lock-free internals (cleanups 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("slot   0  private ·  victim private 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("victim seg 0: head 1 tail 1 (0 of 8)"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&html).expect("html written");
    assert!(page.contains("\"seed\":42"), "data embedded");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external resources"
    );
    assert!(!page.contains("/*DATA*/null"), "placeholder replaced");
    // The snapshot is embedded (step 1: ring with item 1 at slot 0) and the
    // page draws rings as cells with head/tail markers.
    assert!(
        page.contains(r#""lock_free_state":{"cleanups":0,"slots":[{"slot":0,"private":0,"victim_private":null,"shared":[{"head":1,"tail":0,"slots":[1,null,null,null,null,null,null,null]}],"victim":[]}]}"#),
        "snapshot embedded"
    );
    for needle in [
        "lockFree(t.lock_free_state)",
        "class=\"ring\"",
        "' typ'",
        "'T' : ''",
        "'H' : ''",
    ] {
        assert!(page.contains(needle), "ring rendering lacks {needle}");
    }
}

#[test]
fn run_kills_stages_that_overrun_the_budget() {
    let dir = scratch("budget");
    let json = dir.join("report.json");
    let start = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_poolcheck"))
        .args([
            "run",
            "--budget",
            "1s",
            "--no-progress",
            "--json",
            json.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("POOLCHECK_TARGET_DIR", dir.join("target"))
        .output()
        .expect("run poolcheck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        start.elapsed().as_secs() < 60,
        "the budget was not enforced"
    );
    assert!(stdout.contains("TIMED OUT"), "{stdout}");
    let report = std::fs::read_to_string(&json).expect("JSON report written");
    assert!(report.contains("\"ok\": false"), "{report}");
    assert!(report.contains("\"status\": \"timed_out\""), "{report}");
    assert!(
        !report.contains("\"status\": \"passed\""),
        "nothing can pass in 1s: {report}"
    );
}

/// `poolcheck explain` lists every mutant of the catalogue as drawn.
#[test]
fn explain_lists_every_lesson_as_drawn() {
    let stdout = assert_prints(&["explain"], "Lessons");
    assert!(!stdout.contains("not drawn"), "{stdout}");
    for name in [
        "free_unlinked_immediately",
        "get_skips_victim",
        "fork_pins_block",
    ] {
        assert!(stdout.contains(name), "{stdout}");
    }
}

/// A saved trace with a free and a later access by another thread is drawn
/// with the use after free marked, the checker's object number named, the
/// source lines embedded and the DESIGN.md section linked by its anchor.
#[test]
fn explain_draws_a_use_after_free_from_a_saved_trace() {
    let dir = scratch("uaf");
    let trace = dir.join("uaf.trace");
    let html = dir.join("uaf.html");
    // The object is named from the source line that created it, so the
    // trace points at where `head_tail` is created today.
    let dequeue =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../src/dequeue.rs")).unwrap();
    let created = 1 + dequeue
        .lines()
        .position(|line| line.contains("head_tail: AtomicU64::new"))
        .expect("src/dequeue.rs creates head_tail");
    std::fs::write(
        &trace,
        format!(
            "O\t0\tAtomicU64\tsrc/dequeue.rs:{created}\t0\n\
             O\t1\tAtomicPtr\tsrc/chain.rs:57\t0\n\
             E\t2\t1\tload\tAcquire\t0\t-\tsrc/chain.rs:260\n\
             E\t0\t0\tfree\t-\t-\t-\tsrc/chain.rs:334\n\
             E\t0\t1\tfree\t-\t-\t-\tsrc/chain.rs:334\n\
             E\t2\t0\tuse-after-free\tload\t-\t-\tsrc/dequeue.rs:239\n\
             P\tuse after free of object 0 (AtomicU64 created at src/dequeue.rs:{created}): load by thread 2 at src/dequeue.rs:239; freed by thread 0 at src/chain.rs:334\n",
        ),
    )
    .unwrap();
    let stdout = assert_prints(
        &[
            "explain",
            "free_unlinked_immediately",
            "--trace",
            trace.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
        "USE AFTER FREE",
    );
    assert!(
        stdout.contains("use after free of dequeue.head_tail"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("\"uaf\":true"),
        "the access and the free are marked"
    );
    assert!(page.contains("DESIGN.md#4-poolchain-unbounded-and-freed-without-a-gc"));
    // The source line of the access, embedded with 4 lines of context.
    assert!(
        page.contains("\"src/dequeue.rs:239\":[235,"),
        "source context embedded"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without Go, go-diff says where it looked and how to install it: exit 2.
#[test]
fn go_diff_without_go() {
    assert_bad_input(&["go-diff", "--go", "/nonexistent/go"], "Go not found");
    assert_bad_input(&["go-diff", "--slots", "0"], "a slot count is 1..=64");
}

/// The reference agrees with Go's own sync.Pool on a few seconds of
/// histories over 1 and 2 slots; the summary is the last line, the JSON and
/// JUnit reports are written. Needs Go (CI installs it: .ci/run).
#[test]
fn go_diff_agrees_with_go() {
    let dir = scratch("go-diff");
    let (json, junit) = (dir.join("go.json"), dir.join("go.xml"));
    let out = poolcheck(&[
        "go-diff",
        "--budget",
        "3s",
        "--slots",
        "1,2",
        "--dir",
        dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "go-diff (needs Go: apt-get install golang-1.19-go): {stdout}{stderr}"
    );
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with("go-diff: ") && last.contains(" histories, slots 1..2, agree with go1."),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let per_slots = report["per_slots"].as_array().unwrap();
    assert_eq!(per_slots.len(), 2, "{report}");
    assert!(
        per_slots.iter().all(|s| s["histories"].as_u64() > Some(0)),
        "{report}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("testsuite name=\"go-diff\"") && !xml.contains("<failure"),
        "{xml}"
    );
}

/// A saved go-diff divergence replays with a Go column beside the
/// reference and the lock-free pool, and the step where Go differs marked
/// (Go's results are in the file: no Go needed).
#[test]
fn go_diff_failure_replays_with_a_go_column() {
    let dir = scratch("go-replay");
    let file = dir.join("go-0.json");
    // Slot 0 puts item 0, a cleanup, then slot 0 gets; "Go" (made up here)
    // answered nil where the reference returns 0.
    std::fs::write(
        &file,
        r#"{"format": "poolcheck-failure/1", "kind": "go_diff", "seed": 0, "mutant": null,
            "message": "made up", "history": {"config": {"max_per_thread": null, "new_fn": false},
            "steps": [{"slot": 0, "op": "put"}, {"slot": 0, "op": "cleanup"}, {"slot": 0, "op": "get"}]},
            "go": {"version": "go1.19.8", "slots": 1, "got": [[], [], [null]], "drained": [null]}}"#,
    )
    .unwrap();
    let html = dir.join("go.html");
    let out = poolcheck(&[
        "replay",
        file.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Go sync.Pool: got [miss]"), "{stdout}");
    assert!(
        stdout.contains("Go (saved results) differs: slot 0 Get: Go go1.19.8 (1 slots) got [miss], reference got [0]"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Go sync.Pool") && page.contains("go_diff"),
        "the page"
    );
}

#[test]
fn negative_counts_get_a_clear_error() {
    assert_bad_input(
        &["fuzz", "--threads", "-3"],
        "--threads must be a positive integer (got \"-3\")",
    );
    assert_bad_input(
        &["replay", "x.json", "--attempts", "-1"],
        "--attempts must be a positive integer",
    );
}

#[test]
fn orderings_list_honours_site() {
    assert_bad_input(
        &["orderings", "--site", "zzz:", "--list"],
        "no ordering site of src/ has an id starting with [\"zzz:\"]",
    );
    let listed = assert_prints(&["orderings", "--site", "chain:", "--list"], "chain:");
    assert!(listed.lines().all(|l| l.starts_with("chain:")), "{listed}");
}

/// A failure saved by a mutant's build does not happen in this (real)
/// build: exit 1, and the command that replays it names the mutant.
#[test]
fn replaying_a_mutants_failure_names_the_build_it_needs() {
    let dir = scratch("mutant-failure");
    let file = dir.join("seq-000000000000002a.json");
    std::fs::write(
        &file,
        r#"{"format":"poolcheck-failure/1","kind":"sequential","seed":42,"mutant":"get_skips_victim","message":"step 2 diverges","history":{"config":{"max_per_thread":null,"new_fn":false},"steps":[{"slot":0,"op":"put"},{"slot":0,"op":"cleanup"},{"slot":0,"op":"get"}]}}"#,
    )
    .unwrap();
    let out = poolcheck(&["replay", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("did NOT reproduce"), "{stdout}");
    assert!(
        stdout.contains("RUSTFLAGS='--cfg victim_pool_mutant=\"get_skips_victim\"'"),
        "{stdout}"
    );
    assert!(!stdout.contains("\"NAME\""), "{stdout}");
}
