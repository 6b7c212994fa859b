//! Linearizability of single-producer / multi-consumer deque histories.
//!
//! The sequential specification is the one of `victim_pool_reference`'s
//! `dequeue::PoolDequeue` (bounded) and `chain::PoolChain` (unbounded): a
//! deque, newest at the head, where `push_head` fails exactly when the deque
//! holds `capacity` items. The only slack is the documented allowed
//! divergence of the bounded deque: a push may report *full* early while
//! consumers that have already taken items have not returned yet (the slot
//! of each such item is still being moved out). The chain has no slack in
//! the operations recorded here (`len` is not recorded).
//!
//! The checker is a Wing–Gong search with memoisation on (operations done,
//! deque contents); histories of a few dozen operations check instantly.

use std::collections::{HashSet, VecDeque};
use std::fmt;

/// One operation and its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DequeOp {
    /// `push_head(value)`; `true` if it succeeded.
    PushHead(u64, bool),
    /// `pop_head()` and what it returned.
    PopHead(Option<u64>),
    /// `pop_tail()` and what it returned.
    PopTail(Option<u64>),
}

/// A completed operation with its invocation and response stamps.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// The thread (or role) that ran it.
    pub thread: usize,
    /// What ran and what it returned.
    pub op: DequeOp,
    /// Stamp taken just before the call.
    pub call: u64,
    /// Stamp taken just after the return.
    pub ret: u64,
}

/// A history that has no linearization.
#[derive(Debug)]
pub struct NotLinearizable {
    /// The offending history, sorted by invocation.
    pub history: Vec<Event>,
}

impl fmt::Display for NotLinearizable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "history is not linearizable against the deque spec:")?;
        for e in &self.history {
            writeln!(
                f,
                "  thread {} [{:>3}, {:>3}] {:?}",
                e.thread, e.call, e.ret, e.op
            )?;
        }
        Ok(())
    }
}

/// Checks `history` against a deque of `capacity` (`None`: unbounded) that
/// initially holds `initial` (oldest first). Returns one linearization (as
/// indices into the sorted history) or the history that has none.
pub fn check_deque(
    history: &[Event],
    capacity: Option<usize>,
    initial: &[u64],
) -> Result<Vec<Event>, NotLinearizable> {
    let mut history = history.to_vec();
    history.sort_by_key(|e| (e.call, e.ret));
    assert!(
        history.len() <= 64,
        "the checker handles up to 64 operations"
    );
    let mut search = Search {
        history: &history,
        capacity,
        failed: HashSet::new(),
        order: Vec::new(),
    };
    let state: VecDeque<u64> = initial.iter().copied().collect();
    if search.dfs(0, state) {
        Ok(search.order.iter().map(|&i| history[i]).collect())
    } else {
        Err(NotLinearizable { history })
    }
}

struct Search<'a> {
    history: &'a [Event],
    capacity: Option<usize>,
    failed: HashSet<(u64, Vec<u64>)>,
    order: Vec<usize>,
}

impl Search<'_> {
    fn dfs(&mut self, done: u64, state: VecDeque<u64>) -> bool {
        let n = self.history.len();
        if done.count_ones() as usize == n {
            return true;
        }
        let key = (done, state.iter().copied().collect::<Vec<_>>());
        if self.failed.contains(&key) {
            return false;
        }
        // The earliest response among pending operations: only operations
        // invoked before it may be linearized next (real-time order).
        let horizon = (0..n)
            .filter(|&i| done & (1 << i) == 0)
            .map(|i| self.history[i].ret)
            .min()
            .expect("some operation is pending");
        for i in 0..n {
            if done & (1 << i) != 0 || self.history[i].call > horizon {
                continue;
            }
            if let Some(next) = self.apply(done, i, &state) {
                self.order.push(i);
                if self.dfs(done | (1 << i), next) {
                    return true;
                }
                self.order.pop();
            }
        }
        self.failed.insert(key);
        false
    }

    /// The spec's state after operation `i`, if its result is allowed.
    fn apply(&self, done: u64, i: usize, state: &VecDeque<u64>) -> Option<VecDeque<u64>> {
        let event = self.history[i];
        let mut next = state.clone();
        match event.op {
            DequeOp::PushHead(value, true) => {
                if self.capacity.is_some_and(|cap| next.len() >= cap) {
                    return None;
                }
                next.push_back(value);
            }
            DequeOp::PushHead(_, false) => {
                let cap = self.capacity?;
                // Allowed divergence: consumers that took an item (already
                // linearized) but had not returned when this push started
                // may still hold their slots.
                let holding = (0..self.history.len())
                    .filter(|&j| done & (1 << j) != 0)
                    .filter(|&j| {
                        let other = self.history[j];
                        matches!(other.op, DequeOp::PopTail(Some(_))) && other.ret > event.call
                    })
                    .count();
                // The slot a push needs is the one of the item `capacity`
                // indices back; after `pop_head`s that can be any in-flight
                // consumer's, whatever the count. So the slack is: full, or
                // some consumer that took an item is still inside.
                if next.len() < cap && holding == 0 {
                    return None;
                }
            }
            DequeOp::PopHead(result) => {
                if next.pop_back() != result {
                    return None;
                }
            }
            DequeOp::PopTail(result) => {
                if next.pop_front() != result {
                    return None;
                }
            }
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(thread: usize, op: DequeOp, call: u64, ret: u64) -> Event {
        Event {
            thread,
            op,
            call,
            ret,
        }
    }

    #[test]
    fn accepts_a_concurrent_history() {
        let h = [
            ev(0, DequeOp::PushHead(1, true), 0, 3),
            ev(1, DequeOp::PopTail(Some(1)), 1, 4),
            ev(0, DequeOp::PopHead(None), 5, 6),
        ];
        assert!(check_deque(&h, Some(2), &[]).is_ok());
    }

    #[test]
    fn rejects_a_duplicate() {
        let h = [
            ev(0, DequeOp::PushHead(1, true), 0, 1),
            ev(1, DequeOp::PopTail(Some(1)), 2, 5),
            ev(2, DequeOp::PopTail(Some(1)), 3, 4),
        ];
        assert!(check_deque(&h, Some(2), &[]).is_err());
    }

    #[test]
    fn rejects_wrong_end() {
        let h = [
            ev(0, DequeOp::PushHead(1, true), 0, 1),
            ev(0, DequeOp::PushHead(2, true), 2, 3),
            ev(1, DequeOp::PopTail(Some(2)), 4, 5),
        ];
        assert!(check_deque(&h, None, &[]).is_err());
    }

    #[test]
    fn early_full_only_while_a_consumer_is_inside() {
        // Capacity 1: the consumer took 1 but had not returned when the
        // push started: allowed.
        let racing = [
            ev(0, DequeOp::PushHead(1, true), 0, 1),
            ev(1, DequeOp::PopTail(Some(1)), 2, 5),
            ev(0, DequeOp::PushHead(2, false), 3, 4),
        ];
        assert!(check_deque(&racing, Some(1), &[]).is_ok());
        // The consumer had returned: the push must succeed.
        let after = [
            ev(0, DequeOp::PushHead(1, true), 0, 1),
            ev(1, DequeOp::PopTail(Some(1)), 2, 3),
            ev(0, DequeOp::PushHead(2, false), 4, 5),
        ];
        assert!(check_deque(&after, Some(1), &[]).is_err());
    }
}

#[cfg(test)]
mod regression {
    use super::*;

    #[test]
    fn shuttle_history_1() {
        use DequeOp::*;
        let raw = [
            (0, PushHead(1, true), 0, 1),
            (0, PushHead(2, true), 2, 3),
            (0, PushHead(3, true), 4, 16),
            (3, PopTail(Some(1)), 5, 31),
            (1, PopTail(Some(2)), 6, 7),
            (1, PopTail(None), 8, 9),
            (2, PopTail(None), 10, 11),
            (0, PopHead(Some(3)), 17, 18),
            (0, PopHead(None), 19, 20),
            (0, PushHead(6, true), 21, 22),
            (0, PushHead(7, true), 23, 24),
            (0, PushHead(8, false), 25, 26),
            (2, PopTail(None), 12, 13),
            (2, PopTail(None), 14, 15),
            (0, PushHead(9, false), 27, 28),
            (0, PushHead(10, false), 29, 30),
        ];
        let h: Vec<Event> = raw
            .iter()
            .map(|&(thread, op, call, ret)| Event {
                thread,
                op,
                call,
                ret,
            })
            .collect();
        let r = check_deque(&h, Some(2), &[]);
        assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
