//! A clonable sequential model of the pool, and a linearizability checker
//! for concurrent pool histories.
//!
//! [`Model`] follows `victim_pool_reference::Pool` step by step (Get's five
//! steps, Put's private-then-shared rule, cleanup's generation swap) without
//! hooks or a bound; `tests/differential.rs` runs random sequential scripts
//! on the model, the reference and the lock-free pool and requires the three
//! to agree on every result, so the model *is* the reference's semantics in
//! a form a search can clone.
//!
//! [`check_pool`] looks for a linearization of a concurrent history whose
//! results the model reproduces, using only the allowed concurrent
//! divergences documented on `victim_pool_reference::Pool`:
//!
//! 1. a Get that overlaps another operation may miss (return `None`, and
//!    mark the victim generation empty, or not) or
//!    return any other item it could reach (its scan is not atomic) — but an
//!    owner's *private* item is never raced, so with no cleanup overlapping,
//!    a Get whose slot holds a private item returns exactly that item;
//! 2. a Get that overlaps a cleanup may return an item that cleanup dropped
//!    from the old victim;
//! 3. and 4. a Put that overlaps a cleanup may land in the private slot, the
//!    primary shared queue or the chain that just became the victim (an
//!    owner that sees the claim skips its private slot; one that was already
//!    inside keeps using the chain it loaded).
//!
//! The history is accepted only if, after the linearization, a fixed probe
//! ([`run_probe`]) gives the same Get results on the model as on the real
//! pool: both are in the same quiescent state.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;

/// One slot's items in one generation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Local {
    private: Option<u64>,
    shared: VecDeque<u64>,
}

/// The sequential pool: primary and victim generations, by slot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Model {
    primary: BTreeMap<usize, Local>,
    victim: BTreeMap<usize, Local>,
    /// A Get found the victim empty since the last cleanup: Gets skip it.
    victim_exhausted: bool,
}

/// Slots of `generation` from `start` upwards, then wrapping round.
fn ring_from(generation: &BTreeMap<usize, Local>, start: usize) -> Vec<usize> {
    let up = generation.range(start..).map(|(&s, _)| s);
    let wrapped = generation.range(..start).map(|(&s, _)| s);
    up.chain(wrapped).collect()
}

impl Model {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Get without New, as slot `me` (the reference's five steps).
    pub fn get(&mut self, me: usize) -> Option<u64> {
        self.get_steps(me, true)
    }

    fn get_steps(&mut self, me: usize, use_private: bool) -> Option<u64> {
        if use_private {
            if let Some(item) = self.primary.get_mut(&me).and_then(|l| l.private.take()) {
                return Some(item);
            }
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
        if use_private {
            if let Some(item) = self.victim.get_mut(&me).and_then(|l| l.private.take()) {
                return Some(item);
            }
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

    /// Put as slot `me`.
    pub fn put(&mut self, me: usize, item: u64) {
        let local = self.primary.entry(me).or_default();
        if local.private.is_none() {
            local.private = Some(item);
        } else {
            local.shared.push_back(item);
        }
    }

    /// One cleanup; returns the items it drops.
    pub fn cleanup(&mut self) -> Vec<u64> {
        let primary = std::mem::take(&mut self.primary);
        let old = std::mem::replace(&mut self.victim, primary);
        self.victim_exhausted = false;
        old.into_values()
            .flat_map(|l| l.private.into_iter().chain(l.shared))
            .collect()
    }

    /// Removes `item` from anywhere slot `me` could take it from; false if
    /// it is not there.
    fn take_reachable(&mut self, me: usize, item: u64) -> bool {
        for (generation, is_victim) in [(&mut self.primary, false), (&mut self.victim, true)] {
            for (&slot, local) in generation.iter_mut() {
                if slot == me && local.private == Some(item) {
                    local.private = None;
                    return true;
                }
                if let Some(pos) = local.shared.iter().position(|&x| x == item) {
                    // Thieves take from the tail; the owner's primary
                    // shared queue also at the head. An item in the middle
                    // is not reachable by one pop.
                    let at_tail = pos == 0;
                    let at_head = pos + 1 == local.shared.len() && slot == me && !is_victim;
                    if at_tail || at_head {
                        local.shared.remove(pos);
                        return true;
                    }
                    return false;
                }
            }
        }
        false
    }

    fn private_of(&self, me: usize) -> Option<u64> {
        self.primary.get(&me).and_then(|l| l.private)
    }
}

/// Runs the quiescent-state probe through `get` (a Get as the given slot):
/// one Get as each slot of `slots`, then Gets as `slots[0]` until one
/// misses. Returns every result.
pub fn run_probe(slots: &[usize], mut get: impl FnMut(usize) -> Option<u64>) -> Vec<Option<u64>> {
    let mut results: Vec<Option<u64>> = slots.iter().map(|&s| get(s)).collect();
    if let Some(&first) = slots.first() {
        loop {
            let item = get(first);
            results.push(item);
            if item.is_none() {
                break;
            }
        }
    }
    results
}

/// One pool operation and its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolOp {
    /// Put of the item with this id.
    Put(u64),
    /// `try_get`, and what it returned.
    Get(Option<u64>),
    /// `cleanup`.
    Cleanup,
}

/// A completed pool operation, with the slot it acted as and its stamps.
#[derive(Clone, Copy, Debug)]
pub struct PoolEvent {
    /// The slot (thread id) the operation acted as; ignored for cleanup.
    pub slot: usize,
    /// What ran and what it returned.
    pub op: PoolOp,
    /// Stamp before the call.
    pub call: u64,
    /// Stamp after the return.
    pub ret: u64,
}

/// A pool history with no acceptable linearization.
#[derive(Debug)]
pub struct PoolMismatch {
    /// The history, sorted by invocation.
    pub history: Vec<PoolEvent>,
    /// The probe results of the real pool.
    pub probe: Vec<Option<u64>>,
    /// What the model's probe gives after the serial order (all operations
    /// in invocation order), for comparison.
    pub serial_probe: Vec<Option<u64>>,
}

impl fmt::Display for PoolMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "no linearization of this pool history matches the spec:")?;
        for e in &self.history {
            writeln!(
                f,
                "  slot {} [{:>3}, {:>3}] {:?}",
                e.slot, e.call, e.ret, e.op
            )?;
        }
        writeln!(f, "real probe:   {:?}", self.probe)?;
        writeln!(f, "serial probe: {:?}", self.serial_probe)
    }
}

/// Checks a concurrent pool history plus the real pool's probe results
/// (taken with [`run_probe`] over `probe_slots` after quiescence).
pub fn check_pool(
    history: &[PoolEvent],
    probe_slots: &[usize],
    probe: &[Option<u64>],
) -> Result<(), PoolMismatch> {
    let mut history = history.to_vec();
    history.sort_by_key(|e| (e.call, e.ret));
    assert!(
        history.len() <= 64,
        "the checker handles up to 64 operations"
    );
    let mut search = Search {
        history: &history,
        probe_slots,
        probe,
        failed: HashSet::new(),
    };
    let start = State {
        model: Model::new(),
        dropped: BTreeSet::new(),
    };
    if search.dfs(0, start) {
        return Ok(());
    }
    let mut serial = Model::new();
    for e in &history {
        match e.op {
            PoolOp::Put(x) => serial.put(e.slot, x),
            PoolOp::Get(_) => {
                serial.get(e.slot);
            }
            PoolOp::Cleanup => {
                serial.cleanup();
            }
        }
    }
    Err(PoolMismatch {
        history,
        probe: probe.to_vec(),
        serial_probe: run_probe(probe_slots, |s| serial.get(s)),
    })
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct State {
    model: Model,
    /// Items dropped by a linearized cleanup, with the cleanup's index: a
    /// Get overlapping that cleanup may still return them (divergence 2).
    dropped: BTreeSet<(u64, usize)>,
}

struct Search<'a> {
    history: &'a [PoolEvent],
    probe_slots: &'a [usize],
    probe: &'a [Option<u64>],
    failed: HashSet<(u64, State)>,
}

impl Search<'_> {
    fn overlaps(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.history[i], self.history[j]);
        i != j && a.call < b.ret && b.call < a.ret
    }

    fn overlaps_any(&self, i: usize) -> bool {
        (0..self.history.len()).any(|j| self.overlaps(i, j))
    }

    fn overlaps_cleanup(&self, i: usize) -> bool {
        (0..self.history.len())
            .any(|j| self.overlaps(i, j) && self.history[j].op == PoolOp::Cleanup)
    }

    fn dfs(&mut self, done: u64, state: State) -> bool {
        let n = self.history.len();
        if done.count_ones() as usize == n {
            let mut model = state.model;
            return run_probe(self.probe_slots, |s| model.get(s)) == self.probe;
        }
        let key = (done, state.clone());
        if self.failed.contains(&key) {
            return false;
        }
        let horizon = (0..n)
            .filter(|&i| done & (1 << i) == 0)
            .map(|i| self.history[i].ret)
            .min()
            .expect("some operation is pending");
        for i in 0..n {
            if done & (1 << i) != 0 || self.history[i].call > horizon {
                continue;
            }
            for next in self.successors(i, &state) {
                if self.dfs(done | (1 << i), next) {
                    return true;
                }
            }
        }
        self.failed.insert(key);
        false
    }

    /// Every spec state operation `i` may lead to from `state`.
    fn successors(&self, i: usize, state: &State) -> Vec<State> {
        let event = self.history[i];
        let me = event.slot;
        let mut out = Vec::new();
        match event.op {
            PoolOp::Put(x) => {
                let mut exact = state.clone();
                exact.model.put(me, x);
                out.push(exact);
                if self.overlaps_cleanup(i) {
                    // Divergences 3/4: skipped private, or pushed into the
                    // chain that just became the victim.
                    let mut shared = state.clone();
                    shared
                        .model
                        .primary
                        .entry(me)
                        .or_default()
                        .shared
                        .push_back(x);
                    out.push(shared);
                    let mut victim = state.clone();
                    victim
                        .model
                        .victim
                        .entry(me)
                        .or_default()
                        .shared
                        .push_back(x);
                    out.push(victim);
                }
            }
            PoolOp::Cleanup => {
                let mut next = state.clone();
                for x in next.model.cleanup() {
                    next.dropped.insert((x, i));
                }
                out.push(next);
            }
            PoolOp::Get(result) => {
                let mut exact = state.clone();
                if exact.model.get(me) == result {
                    out.push(exact);
                }
                let raced_cleanup = self.overlaps_cleanup(i);
                if raced_cleanup {
                    // Divergence 3: the claim hides the private fields.
                    let mut hidden = state.clone();
                    if hidden.model.get_steps(me, false) == result {
                        out.push(hidden);
                    }
                }
                if self.overlaps_any(i) {
                    // Divergence 1, except that nobody races the private
                    // item of an owner when no cleanup runs.
                    let private = state.model.private_of(me);
                    let private_rule = raced_cleanup || private.is_none() || private == result;
                    match result {
                        None if private_rule => {
                            out.push(state.clone());
                            // A racing miss may or may not have marked the
                            // victim empty (step 4 of Get).
                            let mut marked = state.clone();
                            marked.model.victim_exhausted = true;
                            out.push(marked);
                        }
                        Some(x) if private_rule => {
                            let mut other = state.clone();
                            if other.model.take_reachable(me, x) {
                                out.push(other);
                            }
                            // Divergence 2: an old victim item.
                            let dropped_by = state
                                .dropped
                                .iter()
                                .find(|&&(item, by)| item == x && self.overlaps(i, by))
                                .copied();
                            if let Some(entry) = dropped_by {
                                let mut late = state.clone();
                                late.dropped.remove(&entry);
                                out.push(late);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(slot: usize, op: PoolOp, call: u64, ret: u64) -> PoolEvent {
        PoolEvent {
            slot,
            op,
            call,
            ret,
        }
    }

    #[test]
    fn model_follows_go_order() {
        let mut m = Model::new();
        m.put(0, 1);
        m.put(0, 2);
        m.put(0, 3);
        m.put(1, 4);
        assert_eq!(m.get(0), Some(1), "own private first");
        assert_eq!(m.get(0), Some(3), "own shared, newest");
        assert_eq!(
            m.get(2),
            Some(2),
            "steal oldest, from slot 0 after wrapping"
        );
        assert_eq!(m.cleanup(), Vec::<u64>::new());
        assert_eq!(m.get(1), Some(4), "own victim private");
        m.put(1, 5);
        assert_eq!(m.cleanup(), Vec::<u64>::new());
        assert_eq!(m.get(0), None, "slot 1's victim private is not ours");
        assert_eq!(
            m.get(1),
            None,
            "that miss marked the victim empty: not even slot 1 finds its own"
        );
        assert_eq!(m.cleanup(), vec![5], "dropped by the next cleanup");
    }

    #[test]
    fn serial_history_must_match_exactly() {
        let h = [
            ev(0, PoolOp::Put(1), 0, 1),
            ev(0, PoolOp::Put(2), 2, 3),
            ev(1, PoolOp::Get(Some(1)), 4, 5),
        ];
        // Slot 1 cannot take slot 0's private item.
        assert!(check_pool(&h, &[0, 1], &[Some(1), None, None]).is_err());
        let ok = [
            ev(0, PoolOp::Put(1), 0, 1),
            ev(0, PoolOp::Put(2), 2, 3),
            ev(1, PoolOp::Get(Some(2)), 4, 5),
        ];
        assert!(check_pool(&ok, &[0, 1], &[Some(1), None, None]).is_ok());
        assert!(check_pool(&ok, &[0, 1], &[None, None, None]).is_err());
    }

    #[test]
    fn racing_get_may_miss_but_not_own_private() {
        let h = [
            ev(0, PoolOp::Put(1), 0, 1),
            ev(0, PoolOp::Get(None), 2, 5),
            ev(1, PoolOp::Put(2), 3, 4),
        ];
        assert!(check_pool(&h, &[0, 1], &[Some(1), Some(2), None]).is_err());
        let h = [
            ev(1, PoolOp::Put(9), 0, 1),
            ev(1, PoolOp::Put(1), 0, 1),
            ev(0, PoolOp::Get(None), 2, 5),
            ev(1, PoolOp::Put(2), 3, 4),
        ];
        // Slot 0 races slot 1's Put and misses its shared item 1: allowed.
        assert!(check_pool(&h, &[0, 1], &[Some(1), Some(9), Some(2), None]).is_ok());
    }
}
