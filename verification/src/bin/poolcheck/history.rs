//! Sequential differential harness: a history of `(slot, op)` steps replayed
//! on the lock-free pool (`victim_pool::Pool::as_slot`), on the reference
//! (`victim_pool_reference::Pool`, explicit slots through `SlotPool`) and on
//! an inspectable model of the reference's state, compared after every step.
//!
//! Shared with the cargo-fuzz target (`fuzz/fuzz_targets/differential.rs`
//! includes this file), so it depends only on the two pools and serde.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use victim_pool_reference::api::SlotPool;

/// Slots a decoded history uses: mostly 0–2, sometimes a far one (a sparse
/// slot table and a second bucket of thread slots).
pub const SLOTS: [usize; 4] = [0, 1, 2, 40];

/// How the pool of a history is built (identical for both sides).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// `max_per_thread`.
    pub max_per_thread: Option<usize>,
    /// Whether the pool has New (then `Get` returns a fresh item on a miss).
    pub new_fn: bool,
}

/// One operation of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Put a fresh item.
    Put,
    /// Put `n` fresh items (crosses chain segment boundaries).
    PutMany(u8),
    /// Put back the item got most recently (nothing if none is held).
    PutBack,
    /// Get (New on a miss when the pool has New).
    Get,
    /// `n` Gets without New.
    GetMany(u8),
    /// One cleanup of the pool (the slot is ignored).
    Cleanup,
}

/// One step: `op` as slot `slot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The slot the operation acts as.
    pub slot: usize,
    /// The operation.
    pub op: Op,
}

/// A sequential history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The pool configuration.
    pub config: Config,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl History {
    /// Decodes raw bytes (libFuzzer input or random bytes): byte 0 is the
    /// configuration, then one byte per step (`kind = b & 7`, slot from bits
    /// 3–4), plus a count byte for the `*Many` steps. Every byte string is a
    /// valid history.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut it = bytes.iter().copied();
        let config = match it.next() {
            None => Config::default(),
            Some(b) => Config {
                max_per_thread: match b % 8 {
                    m @ 0..=4 => Some(usize::from(m)),
                    _ => None,
                },
                new_fn: b & 0x80 != 0,
            },
        };
        let mut steps = Vec::new();
        while let Some(b) = it.next() {
            let slot = SLOTS[usize::from((b >> 3) & 3)];
            let op = match b & 7 {
                0 | 1 => Op::Put,
                2 => Op::PutMany(it.next().unwrap_or(0) % 64 + 1),
                3 => Op::PutBack,
                4 | 5 => Op::Get,
                6 => Op::GetMany(it.next().unwrap_or(0) % 64 + 1),
                _ => Op::Cleanup,
            };
            steps.push(Step { slot, op });
        }
        Self { config, steps }
    }
}

/// Where the Gets of the lock-free pool found their items (and what its
/// Puts did), from the difference of two stats snapshots.
pub fn path_names(before: &victim_pool::PoolStats, after: &victim_pool::PoolStats) -> String {
    let mut out = Vec::new();
    for (name, a, b) in [
        ("private", before.private_hits, after.private_hits),
        ("shared", before.shared_hits, after.shared_hits),
        ("steal", before.steal_hits, after.steal_hits),
        ("victim", before.victim_hits, after.victim_hits),
        ("miss", before.misses, after.misses),
        ("new", before.new_calls, after.new_calls),
        ("bound-drop", before.bound_drops, after.bound_drops),
        ("cleanup-drop", before.cleanup_drops, after.cleanup_drops),
    ] {
        let d = b.wrapping_sub(a);
        if d == 1 {
            out.push(name.to_string());
        } else if d > 1 {
            out.push(format!("{name}×{d}"));
        }
    }
    out.join(" ")
}

/// Ids of dropped items, shared by every item of one side.
#[derive(Clone, Debug, Default)]
pub struct DropLog(Arc<Mutex<Vec<u64>>>);

impl DropLog {
    /// The ids dropped since the last call, sorted.
    pub fn take(&self) -> Vec<u64> {
        let mut v = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        v.sort_unstable();
        v
    }
}

/// An item that logs its id when dropped.
#[derive(Debug)]
pub struct Item {
    /// The item's id (dense from 0 per side).
    pub id: u64,
    log: DropLog,
}

impl Item {
    /// An item with id `id` that logs its drop in `log`.
    pub fn new(id: u64, log: &DropLog) -> Self {
        Self {
            id,
            log: log.clone(),
        }
    }
}

/// A detached copy, for [`victim_pool::Pool::snapshot`] only: the copy has
/// the same id but logs its drop in a private log nobody reads, so taking a
/// snapshot never shows up as a drop of the pool's items.
impl Clone for Item {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            log: DropLog::default(),
        }
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        self.log
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.id);
    }
}

/// One slot's items in one generation of the model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalState {
    /// The private item.
    pub private: Option<u64>,
    /// The shared queue, tail (oldest) first.
    pub shared: VecDeque<u64>,
}

/// The reference's state, as a model that follows
/// `victim_pool_reference::Pool` rule by rule (its results are checked
/// against the reference's at every step).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelState {
    /// The primary generation, by slot.
    pub primary: BTreeMap<usize, LocalState>,
    /// The victim generation, by slot.
    pub victim: BTreeMap<usize, LocalState>,
    /// A Get found the victim generation empty since the last cleanup:
    /// Gets skip it (Go's `victimSize = 0`).
    #[serde(default)]
    pub victim_exhausted: bool,
}

fn ring_from(generation: &BTreeMap<usize, LocalState>, start: usize) -> Vec<usize> {
    let up = generation.range(start..).map(|(&s, _)| s);
    let wrapped = generation.range(..start).map(|(&s, _)| s);
    up.chain(wrapped).collect()
}

impl ModelState {
    fn get(&mut self, me: usize) -> Option<u64> {
        if let Some(item) = self.primary.get_mut(&me).and_then(|l| l.private.take()) {
            return Some(item);
        }
        if let Some(item) = self.primary.get_mut(&me).and_then(|l| l.shared.pop_back()) {
            return Some(item);
        }
        for slot in ring_from(&self.primary, me.wrapping_add(1)) {
            if let Some(item) = self
                .primary
                .get_mut(&slot)
                .and_then(|l| l.shared.pop_front())
            {
                return Some(item);
            }
        }
        if self.victim_exhausted {
            return None;
        }
        if let Some(item) = self.victim.get_mut(&me).and_then(|l| l.private.take()) {
            return Some(item);
        }
        for slot in ring_from(&self.victim, me) {
            if let Some(item) = self
                .victim
                .get_mut(&slot)
                .and_then(|l| l.shared.pop_front())
            {
                return Some(item);
            }
        }
        self.victim_exhausted = true;
        None
    }

    /// Put; returns the item if the bound drops it.
    fn put(&mut self, me: usize, item: u64, max: Option<usize>) -> Option<u64> {
        let local = self.primary.entry(me).or_default();
        if local.private.is_none() && max != Some(0) {
            local.private = Some(item);
            return None;
        }
        let held = usize::from(local.private.is_some()) + local.shared.len();
        if max.is_some_and(|max| held >= max) {
            return Some(item);
        }
        local.shared.push_back(item);
        None
    }

    fn cleanup(&mut self) -> Vec<u64> {
        let primary = std::mem::take(&mut self.primary);
        let old = std::mem::replace(&mut self.victim, primary);
        self.victim_exhausted = false;
        let mut dropped: Vec<u64> = old
            .into_values()
            .flat_map(|l| l.private.into_iter().chain(l.shared))
            .collect();
        dropped.sort_unstable();
        dropped
    }
}

/// One ring (chain segment) of the lock-free pool, from
/// `victim_pool::dequeue::RingSnapshot`, items by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingState {
    /// The producer's index (next slot written is `head % capacity`).
    pub head: u32,
    /// The consumers' index (oldest slot is `tail % capacity`).
    pub tail: u32,
    /// Each ring slot: the item id if its `typ` (occupied) tag is set.
    pub slots: Vec<Option<u64>>,
}

/// One thread slot of the lock-free pool (`victim_pool::SlotSnapshot`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LfSlotState {
    /// The slot index.
    pub slot: usize,
    /// The primary private item.
    pub private: Option<u64>,
    /// The victim generation's private item.
    pub victim_private: Option<u64>,
    /// The primary shared chain's segments, oldest (tail) first.
    pub shared: Vec<RingState>,
    /// The victim chain's segments, oldest first.
    pub victim: Vec<RingState>,
}

/// The lock-free pool's internals after a step (`victim_pool::PoolSnapshot`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LfState {
    /// Cleanups run on the pool.
    pub cleanups: u64,
    /// Every slot that holds anything.
    pub slots: Vec<LfSlotState>,
}

impl LfState {
    /// Copies the pool's internals (`Pool::snapshot`), items as ids.
    pub fn of(pool: &mut victim_pool::Pool<Item>) -> Self {
        let snap = pool.snapshot();
        let ring = |r: victim_pool::dequeue::RingSnapshot<Item>| RingState {
            head: r.head,
            tail: r.tail,
            slots: r.slots.iter().map(|s| s.as_ref().map(|i| i.id)).collect(),
        };
        Self {
            cleanups: snap.cleanups,
            slots: snap
                .slots
                .into_iter()
                .map(|s| LfSlotState {
                    slot: s.slot,
                    private: s.private.as_ref().map(|i| i.id),
                    victim_private: s.victim_private.as_ref().map(|i| i.id),
                    shared: s.shared.into_iter().map(ring).collect(),
                    victim: s.victim.into_iter().map(ring).collect(),
                })
                .collect(),
        }
    }
}

/// What one implementation observably did in one step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Items returned by the step's Gets, in order (`None`: a miss).
    pub got: Vec<Option<u64>>,
    /// Ids dropped during the step (bound drops, cleanup drops), sorted.
    pub dropped: Vec<u64>,
}

/// One step of a traced run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepTrace {
    /// Index in the history (`None`: the final drain / drop).
    pub index: Option<usize>,
    /// What was done, in words.
    pub action: String,
    /// Items put by the step.
    pub put: Vec<u64>,
    /// The lock-free pool's results.
    pub lock_free: Observed,
    /// Where the lock-free pool's Gets were served (from its stats).
    pub lock_free_paths: String,
    /// The reference's results.
    pub reference: Observed,
    /// The model's results (the reference's rules on an inspectable state).
    pub model: Observed,
    /// The model's state after the step.
    pub state: ModelState,
    /// The lock-free pool's internals after the step (`None` once the pool
    /// is gone: the end step, or after a panic).
    #[serde(default)]
    pub lock_free_state: Option<LfState>,
    /// Ids the test holds after the step (got, not yet put back).
    pub held: Vec<u64>,
    /// Set when the implementations disagree here.
    pub divergence: Option<String>,
    /// Go's `sync.Pool` on the same step (`poolcheck go-diff` failures
    /// only): its Get results; what it drops is not observable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go: Option<Vec<Option<u64>>>,
}

/// The result of replaying a history.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The first disagreement, if any: step index (or `None` for the end
    /// checks) and description.
    pub divergence: Option<(Option<usize>, String)>,
    /// Every step, when tracing.
    pub trace: Vec<StepTrace>,
}

/// One side of the replay.
struct Side<P> {
    pool: Option<P>,
    log: DropLog,
    next_id: Arc<Mutex<u64>>,
    hand: Vec<Item>,
}

fn fresh(next: &Mutex<u64>, log: &DropLog) -> Item {
    let mut n = next.lock().unwrap_or_else(PoisonError::into_inner);
    let id = *n;
    *n += 1;
    Item::new(id, log)
}

impl<P: SlotPool<Item>> Side<P> {
    fn new(config: Config) -> Self {
        let log = DropLog::default();
        let next_id = Arc::new(Mutex::new(0u64));
        let mut builder = victim_pool_reference::Pool::builder();
        if config.new_fn {
            let (log, next) = (log.clone(), next_id.clone());
            builder = builder.new_fn(move || fresh(&next, &log));
        }
        if let Some(max) = config.max_per_thread {
            builder = builder.max_per_thread(max);
        }
        Self {
            pool: Some(P::from_builder(builder)),
            log,
            next_id,
            hand: Vec::new(),
        }
    }

    fn fresh(&self) -> Item {
        fresh(&self.next_id, &self.log)
    }

    fn pool(&mut self) -> &mut P {
        self.pool.as_mut().expect("pool present until the end")
    }

    /// Applies `step`; returns the ids put and what was observed.
    fn apply(&mut self, step: Step, config: Config) -> (Vec<u64>, Observed) {
        let mut put = Vec::new();
        let mut got = Vec::new();
        let slot = step.slot;
        match step.op {
            Op::Put => {
                let item = self.fresh();
                put.push(item.id);
                self.pool().put_as(slot, item);
            }
            Op::PutMany(n) => {
                for _ in 0..n {
                    let item = self.fresh();
                    put.push(item.id);
                    self.pool().put_as(slot, item);
                }
            }
            Op::PutBack => {
                if let Some(item) = self.hand.pop() {
                    put.push(item.id);
                    self.pool().put_as(slot, item);
                }
            }
            Op::Get => {
                let item = if config.new_fn {
                    Some(self.pool().get_as(slot))
                } else {
                    self.pool().try_get_as(slot)
                };
                got.push(item.as_ref().map(|i| i.id));
                self.hand.extend(item);
            }
            Op::GetMany(n) => {
                for _ in 0..n {
                    let item = self.pool().try_get_as(slot);
                    got.push(item.as_ref().map(|i| i.id));
                    self.hand.extend(item);
                }
            }
            Op::Cleanup => self.pool().cleanup(),
        }
        let dropped = self.log.take();
        (put, Observed { got, dropped })
    }
}

/// The step in words.
pub fn describe(step: Step) -> String {
    match step.op {
        Op::Put => format!("slot {} Put", step.slot),
        Op::PutMany(n) => format!("slot {} Put ×{n}", step.slot),
        Op::PutBack => format!("slot {} PutBack", step.slot),
        Op::Get => format!("slot {} Get", step.slot),
        Op::GetMany(n) => format!("slot {} TryGet ×{n}", step.slot),
        Op::Cleanup => "cleanup".to_string(),
    }
}

/// Replays `history` on the lock-free pool, the reference and the model.
/// Stops at the first disagreement. With `trace`, records every step.
pub fn run(history: &History, trace: bool) -> Outcome {
    let config = history.config;
    let mut out = Outcome::default();
    let mut lf: Side<victim_pool::Pool<Item>> = Side::new(config);
    let mut rf: Side<victim_pool_reference::Pool<Item>> = Side::new(config);
    let mut model = ModelState::default();
    let mut model_next = 0u64;
    let mut model_hand: Vec<u64> = Vec::new();
    let mut used: BTreeSet<usize> = BTreeSet::new();
    let mut lf_drops: Vec<u64> = Vec::new();

    for (index, &step) in history.steps.iter().enumerate() {
        if step.op != Op::Cleanup {
            used.insert(step.slot);
        }
        let before = lf.pool.as_ref().map(|p| p.stats());
        let lf_result = catch_unwind(AssertUnwindSafe(|| lf.apply(step, config)));
        let (put, lf_obs) = match lf_result {
            Ok(r) => r,
            Err(payload) => {
                let msg = format!(
                    "lock-free pool panicked: {}",
                    crate::context::panic_text(&*payload)
                );
                out.divergence = Some((Some(index), msg));
                // The pool may be corrupt: leak it rather than drop it.
                std::mem::forget(lf.pool.take());
                return out;
            }
        };
        let after = lf.pool.as_ref().map(|p| p.stats());
        let paths = match (before, after) {
            (Some(b), Some(a)) => path_names(&b, &a),
            _ => String::new(),
        };
        lf_drops.extend(&lf_obs.dropped);
        let (_, rf_obs) = rf.apply(step, config);
        // The model.
        let mut m_obs = Observed::default();
        match step.op {
            Op::Put | Op::PutMany(_) | Op::PutBack => {
                let ids: Vec<u64> = match step.op {
                    Op::PutBack => model_hand.pop().into_iter().collect(),
                    Op::Put => vec![model_next],
                    Op::PutMany(n) => (model_next..model_next + u64::from(n)).collect(),
                    _ => Vec::new(),
                };
                if step.op != Op::PutBack {
                    model_next += ids.len() as u64;
                }
                for id in ids {
                    m_obs
                        .dropped
                        .extend(model.put(step.slot, id, config.max_per_thread));
                }
            }
            Op::Get => {
                let mut item = model.get(step.slot);
                if item.is_none() && config.new_fn {
                    item = Some(model_next);
                    model_next += 1;
                }
                m_obs.got.push(item);
                model_hand.extend(item);
            }
            Op::GetMany(n) => {
                for _ in 0..n {
                    let item = model.get(step.slot);
                    m_obs.got.push(item);
                    model_hand.extend(item);
                }
            }
            Op::Cleanup => m_obs.dropped = model.cleanup(),
        }
        m_obs.dropped.sort_unstable();
        let divergence = if lf_obs != rf_obs {
            Some(format!(
                "{}: lock-free got {:?} dropped {:?}, reference got {:?} dropped {:?}",
                describe(step),
                lf_obs.got,
                lf_obs.dropped,
                rf_obs.got,
                rf_obs.dropped
            ))
        } else if m_obs != rf_obs {
            Some(format!(
                "{}: the model (harness) disagrees with the reference: model got {:?} dropped {:?}, reference got {:?} dropped {:?}",
                describe(step),
                m_obs.got,
                m_obs.dropped,
                rf_obs.got,
                rf_obs.dropped
            ))
        } else {
            None
        };
        if trace {
            // A mutant's corrupt pool may panic here: no picture then.
            let lock_free_state = lf
                .pool
                .as_mut()
                .and_then(|p| catch_unwind(AssertUnwindSafe(|| LfState::of(p))).ok());
            out.trace.push(StepTrace {
                index: Some(index),
                action: describe(step),
                put,
                lock_free: lf_obs,
                lock_free_paths: paths,
                reference: rf_obs,
                model: m_obs,
                state: model.clone(),
                lock_free_state,
                held: model_hand.clone(),
                divergence: divergence.clone(),
                go: None,
            });
        }
        if let Some(msg) = divergence {
            out.divergence = Some((Some(index), msg));
            return out;
        }
    }

    // Drain: every used slot takes until it finds nothing (private items
    // included), on both sides; the drained pools must drop nothing, and
    // every item must have been dropped exactly once over the run.
    let mut end = drain_and_check(&mut lf, &mut rf, &mut model, &used);
    if end.2.is_none() {
        lf_drops.extend(&end.0.dropped);
        let created = *lf.next_id.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counts = vec![0u32; created as usize];
        let mut fabricated = None;
        for &id in &lf_drops {
            match counts.get_mut(id as usize) {
                Some(c) => *c += 1,
                None => fabricated = Some(id),
            }
        }
        if let Some(id) = fabricated {
            end.2 = Some(format!(
                "lock-free: dropped item {id}, which was never created"
            ));
        } else if let Some(id) = counts.iter().position(|&c| c != 1) {
            end.2 = Some(format!(
                "lock-free: item {id} was dropped {} times over the run, not once",
                counts[id]
            ));
        }
    }
    if trace {
        out.trace.push(StepTrace {
            index: None,
            action: "drain every used slot, drop the pools and the held items".to_string(),
            put: Vec::new(),
            lock_free: end.0.clone(),
            lock_free_paths: String::new(),
            reference: end.1.clone(),
            model: end.1.clone(),
            state: model.clone(),
            lock_free_state: None,
            held: Vec::new(),
            divergence: end.2.clone(),
            go: None,
        });
    }
    if let Some(msg) = end.2 {
        out.divergence = Some((None, msg));
    }
    out
}

type End = (Observed, Observed, Option<String>);

fn drain_and_check(
    lf: &mut Side<victim_pool::Pool<Item>>,
    rf: &mut Side<victim_pool_reference::Pool<Item>>,
    model: &mut ModelState,
    used: &BTreeSet<usize>,
) -> End {
    let mut lo = Observed::default();
    let mut ro = Observed::default();
    for &slot in used {
        loop {
            let a = match catch_unwind(AssertUnwindSafe(|| lf.pool().try_get_as(slot))) {
                Ok(a) => a,
                Err(p) => {
                    std::mem::forget(lf.pool.take());
                    let msg = format!(
                        "lock-free pool panicked while draining: {}",
                        crate::context::panic_text(&*p)
                    );
                    return (lo, ro, Some(msg));
                }
            };
            let b = rf.pool().try_get_as(slot);
            let _ = model.get(slot);
            let (ai, bi) = (a.as_ref().map(|i| i.id), b.as_ref().map(|i| i.id));
            lo.got.push(ai);
            ro.got.push(bi);
            if ai != bi {
                return (
                    lo,
                    ro,
                    Some(format!(
                        "draining as slot {slot}: lock-free got {ai:?}, reference got {bi:?}"
                    )),
                );
            }
            if a.is_none() {
                break;
            }
            lf.hand.extend(a);
            rf.hand.extend(b);
        }
    }
    let lf_before = lf.log.take();
    let rf_before = rf.log.take();
    drop(lf.pool.take());
    drop(rf.pool.take());
    let lf_pool_drops = lf.log.take();
    let rf_pool_drops = rf.log.take();
    lf.hand.clear();
    rf.hand.clear();
    lo.dropped = [lf_before, lf_pool_drops.clone(), lf.log.take()].concat();
    ro.dropped = [rf_before, rf_pool_drops.clone(), rf.log.take()].concat();
    lo.dropped.sort_unstable();
    ro.dropped.sort_unstable();
    // A drained pool still holds only what no Get can reach: other slots'
    // victim private items once a Get has found the victim empty (the
    // reference holds the same ones).
    if lf_pool_drops != rf_pool_drops {
        let msg = format!(
            "the drained lock-free pool still held items {lf_pool_drops:?}, the reference {rf_pool_drops:?}"
        );
        return (lo, ro, Some(msg));
    }
    if lo.dropped != ro.dropped {
        return (lo, ro, Some("the final drops differ".to_string()));
    }
    (lo, ro, None)
}
