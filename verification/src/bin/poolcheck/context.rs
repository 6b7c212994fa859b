//! What every subcommand shares: the workspace, the output directory, the
//! tier's bounds; panic handling; durations.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings shared by the subcommands.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The workspace root.
    pub root: PathBuf,
    /// `target/poolcheck`: per-stage target dirs, logs, reports.
    pub out: PathBuf,
    /// Loom preemption bound.
    pub loom_bound: u32,
    /// Shuttle seconds per scheduler per test.
    pub shuttle_secs: u64,
    /// Draw progress bars.
    pub progress: bool,
}

/// Text of a panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Panics of the pools under test are caught and reported as findings:
/// keep the default hook from printing them.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

fn workspace_root() -> Result<PathBuf, String> {
    let is_root =
        |p: &Path| p.join("verification/mutants.txt").is_file() && p.join("Cargo.toml").is_file();
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            if is_root(&dir) {
                return Ok(dir);
            }
            if !dir.pop() {
                break;
            }
        }
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if is_root(&built) {
        return built.canonicalize().map_err(|e| e.to_string());
    }
    Err("cannot find the victim-pool workspace (run poolcheck inside it)".to_string())
}

/// Parses `10m`, `90s`, `1h30m`, `500ms` or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (examples: 90s, 10m, 1h30m)");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest.chars().take_while(char::is_ascii_alphabetic).count();
        let d = match &rest[..unit] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
        total += d;
        rest = &rest[unit..];
    }
    Ok(total)
}

/// The settings: workspace root, output dir, tier bounds.
pub fn ctx(deep: bool, no_progress: bool) -> Result<Ctx, String> {
    let root = workspace_root()?;
    let out = std::env::var_os("POOLCHECK_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/poolcheck"));
    Ok(Ctx {
        root,
        out,
        loom_bound: if deep { 3 } else { 2 },
        shuttle_secs: if deep { 60 } else { 5 },
        progress: !no_progress && std::io::stderr().is_terminal(),
    })
}
