//! The failure files of `poolcheck fuzz` (and `fuzz --shuttle`), which
//! `poolcheck replay` reads: their format, names and the build they came
//! from.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::conc::{ConcHistory, ConcOutcome};
use crate::history::History;

/// The format tag of failure files.
pub const FORMAT: &str = "poolcheck-failure/1";

/// Which harness a failure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A sequential history (deterministic).
    Sequential,
    /// A concurrent history on real threads.
    Concurrent,
    /// A shuttle scenario under a recorded schedule (`fuzz --shuttle`).
    Shuttle,
    /// Adversarial items on real threads: hooks and `T::drop` call back
    /// into the pool (`victim_pool_verification::adversary`); checked for
    /// conservation, duplicates and use-after-drop, not against the
    /// reference. The seed names the scripts and the hooks' choices.
    Adversarial,
    /// A sequential history on which Go's own `sync.Pool` and the reference
    /// disagree (`poolcheck go-diff`); Go's results are saved with it.
    GoDiff,
}

/// A saved failure: everything `poolcheck replay` needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// Always [`FORMAT`].
    pub format: String,
    /// The harness.
    pub kind: Kind,
    /// The seed the history was generated from.
    pub seed: u64,
    /// The mutant the binary was built as (`--cfg victim_pool_mutant`), if any.
    pub mutant: Option<String>,
    /// The first violation, in words.
    pub message: String,
    /// The (shrunk) sequential history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
    /// The concurrent history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<ConcHistory>,
    /// What the concurrent run observed when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<ConcOutcome>,
    /// The failing shuttle test and schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuttle: Option<ShuttleCase>,
    /// What Go's `sync.Pool` returned on the history (`poolcheck go-diff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go: Option<GoCase>,
}

/// The mutant this binary was compiled as: `VICTIM_POOL_MUTANT` at build
/// time (set by `poolcheck mutants`, which builds through
/// `verification/mutant-rustc`), or the `victim_pool_mutant` cfg in the
/// `RUSTFLAGS` it was built with.
pub fn built_mutant() -> Option<String> {
    if let Some(m) = option_env!("VICTIM_POOL_MUTANT").filter(|m| !m.is_empty()) {
        return Some(m.to_string());
    }
    let flags = option_env!("RUSTFLAGS")?;
    let value = flags.split("victim_pool_mutant=").nth(1)?;
    let name: String = value
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// A failing shuttle test and its schedule (in a failure file).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShuttleCase {
    /// The test of `verification/tests/shuttle.rs`.
    pub test: String,
    /// The failing schedule shuttle printed (`None` if it printed none,
    /// e.g. a timeout or a crash outside a schedule).
    pub schedule: Option<String>,
    /// The first lines of interest of the failing run.
    pub excerpt: Vec<String>,
}

/// The file name of a failure: `seq-<seed>.json`, `conc-<seed>.json`,
/// `adversarial-<seed>.json` or `shuttle-<test>-<seed>.json`, the seed in
/// 16 hex digits.
pub fn file_name(kind: Kind, shuttle_test: Option<&str>, seed: u64) -> String {
    let kind = match kind {
        Kind::Sequential => "seq",
        Kind::Concurrent => "conc",
        Kind::Shuttle => "shuttle",
        Kind::Adversarial => "adversarial",
        Kind::GoDiff => "go",
    };
    let test = shuttle_test.map_or_else(String::new, |t| format!("{t}-"));
    format!("{kind}-{test}{seed:016x}.json")
}

/// Writes `failure` under `dir`; returns the path.
pub fn save(dir: &Path, failure: &Failure) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let test = failure.shuttle.as_ref().map(|c| c.test.as_str());
    let path = dir.join(file_name(failure.kind, test, failure.seed));
    let text = serde_json::to_string_pretty(failure).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// What Go returned on a saved history, step by step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoCase {
    /// `go1.X.Y`, as `go version` printed it.
    pub version: String,
    /// Slots (= GOMAXPROCS) the history ran with.
    pub slots: usize,
    /// Each step's Get results (`None`: nil), by step index.
    pub got: Vec<Vec<Option<u64>>>,
    /// The end: each used slot drained in turn, without New.
    pub drained: Vec<Option<u64>>,
}

impl GoCase {
    /// Go's results, as the sequential trace's observation of one step
    /// (`None`: the final drain).
    pub fn observed(&self, index: Option<usize>) -> Vec<Option<u64>> {
        match index {
            Some(i) => self.got.get(i).cloned().unwrap_or_default(),
            None => self.drained.clone(),
        }
    }
}
