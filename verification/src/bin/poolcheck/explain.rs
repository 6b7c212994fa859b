//! `poolcheck explain [MUTANT]`: every protocol rule as a runnable lesson.
//!
//! With a mutant of `verification/mutants.txt` whose checker is loom or
//! shuttle, builds that mutant, runs the checker's test with the facade's
//! recorder on (`VICTIM_POOL_TRACE`, see `src/sync/trace.rs`), reads
//! the trace of the failing execution and draws it (`crate::trace`). See
//! verification/TOUR.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::context::Ctx;
use crate::lessons::{lesson, out_dir, run_logged, wrapper};
use crate::mutants::{catalogue, Mutant};

/// Whether `poolcheck explain` can draw a mutant killed by `m.tool`:
/// loom and shuttle (the recorder's trace), the differential test (the
/// shrunk diverging history, step by step) and a test (the calls down to
/// each panic of the failing run).
fn drawn(m: &Mutant) -> bool {
    matches!(
        m.tool.as_str(),
        "loom" | "shuttle" | "differential" | "go-diff" | "test"
    )
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

/// Where the checker's build of a lesson goes: `$POOLCHECK_CHECKER_TARGET_DIR/<tool>`
/// when set (the verification tier points it at its own loom and shuttle
/// dirs, built with the same line tables, so their dependencies are
/// reused), else beside the lesson's files.
fn checker_target_dir(dir: &Path, tool: &str) -> PathBuf {
    std::env::var_os("POOLCHECK_CHECKER_TARGET_DIR")
        .map_or_else(|| dir.to_path_buf(), PathBuf::from)
        .join(tool)
}

/// The longest a lesson's build and checker run may take.
const CHECKER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

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
        "differential" | "go-diff" => return explain_differential(ctx, &m, html_out),
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
    let (status, _) = run_logged(cmd, &log, &m.name, CHECKER_TIMEOUT)?;
    if status.is_some_and(|s| s.success()) {
        println!(
            "{}: SURVIVED: {} {} passed, so there is no failing execution to draw",
            m.name, m.tool, m.test
        );
        return Ok(1);
    }
    if !trace_file.is_file() {
        return Err(format!(
            "{} failed{} but wrote no trace (a build error?); see {}",
            m.name,
            if status.is_none() { " (timed out)" } else { "" },
            log.display()
        ));
    }
    let html_out = html_out.unwrap_or_else(|| dir.join(format!("{}.html", m.name)));
    crate::trace::render(ctx, &m, &trace_file, &html_out)
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
    if crate::failure::built_mutant().as_deref() == Some(m.name.as_str()) {
        crate::context::quiet_panics();
        let start = std::time::Instant::now();
        if m.tool == "go-diff" {
            return explain_go_diff(ctx, m, &dir, &html_out, BUDGET);
        }
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
            let file = crate::failure::save(&failures, &failure)?;
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
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&ctx.root)
        .args([
            "build",
            "--release",
            "-p",
            "victim-pool-verification",
            "--bin",
            "poolcheck",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTC_WORKSPACE_WRAPPER", wrapper(ctx, &m.name)?)
        .env("VICTIM_POOL_MUTANT", &m.name);
    let (status, _) = run_logged(cmd, &log, &m.name, CHECKER_TIMEOUT)?;
    if !status.is_some_and(|s| s.success()) {
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

/// A go-diff lesson, in a poolcheck built as the mutant: go-diff until the
/// first divergence, its page drawn by `poolcheck replay` (a Go column
/// beside the reference and the lock-free pool).
fn explain_go_diff(
    ctx: &Ctx,
    m: &Mutant,
    dir: &Path,
    html_out: &Path,
    budget: std::time::Duration,
) -> Result<i32, String> {
    let (go, version) = crate::go_diff::find_go(None)?;
    let build = crate::go_diff::build(&ctx.root, &ctx.out, &go, &version)?;
    let failures = dir.join(format!("{}.failures", m.name));
    let _ = std::fs::remove_dir_all(&failures);
    let opts = crate::go_diff::GoDiffOptions {
        budget,
        seed: 0,
        slots: vec![1, 2, 4],
        dir: failures,
        progress: false,
    };
    let stats = crate::go_diff::run_reported(&build, &opts, None, None)?;
    let Some(file) = stats.failures.first() else {
        println!(
            "{}: SURVIVED: {} histories agree with {version}, so there is no divergence to draw",
            m.name,
            stats.histories()
        );
        return Ok(1);
    };
    println!(
        "lesson {} (go-diff: the reference against Go's own sync.Pool)",
        m.name
    );
    crate::replay::replay(file, Some(html_out.to_path_buf()), 1)?;
    println!("page: {}", html_out.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::lessons::anchor;

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
}
