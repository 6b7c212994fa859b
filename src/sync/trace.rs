//! A recorder of every shared-memory event of the core under the checkers,
//! for `poolcheck explain` (verification/TOUR.md). Nothing of it exists in a
//! normal build: there the facade re-exports `std`'s types directly.
//!
//! The recorder is installed by setting `VICTIM_POOL_TRACE=<file>` for a
//! loom or shuttle test run; unset, every wrapper below costs one cached
//! flag test beside the checker's own operation. Installed, the events of the
//! current execution are kept in memory (a new execution, detected through a
//! per-execution static of the checker, starts a new list), and a panic hook
//! writes them, with the panic message, to the file: the trace of the
//! execution that failed. Tracing adds no scheduling point, so the failing
//! schedule is the one found without it.
//!
//! Objects are named by the source line that created them (`#[track_caller]`
//! on `new`) and numbered in creation order within the execution; events
//! carry the source line of the operation. Loom does not say which store a
//! load read from, so each load records the value it returned; the renderer
//! compares it with the object's latest store in the trace to mark stale
//! reads.
//!
//! Use after free: every traced object carries a seal that its `Drop`
//! breaks (a volatile store, so it survives the deallocation that follows),
//! and every access checks the seal before it touches the checker's object.
//! An access to a dropped object — a segment or a chain freed while another
//! thread still holds a pointer to it — therefore panics with "use after
//! free of …", whether the recorder is installed or not, so a loom or
//! shuttle test kills a reclamation bug that otherwise only Miri sees. The
//! check reads memory the mutant has freed (the object's memory may already
//! be reused: a seal that is neither live nor freed counts as freed too); it
//! is a best-effort detector for the checkers, Miri stays the exact one.
//! With the recorder installed, each drop is an event (`free`, at the line
//! of the core that freed the object, found by a backtrace), and the panic
//! names the thread and line that freed it.
//!
//! File format, one record a line, tab-separated:
//! `O id kind file:line init` (an object), `E thread id op ordering value
//! value2 file:line` (an event; `-` for a missing field; op `free` is a
//! drop, op `use-after-free` with the attempted operation as its ordering is
//! the access that found the object dropped), `P message` (the panic that
//! ended the execution).
//!
//! The checkers' machinery of the facade (`src/sync.rs`): the core never
//! names it outside `cfg(any(loom, shuttle))`.

use core::cell::Cell;
use core::fmt;
use core::panic::Location;
use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc as StdArc, Mutex as StdMutex, OnceLock};

#[cfg(loom)]
use loom::sync::atomic as backend;
#[cfg(all(shuttle, not(loom)))]
use shuttle::sync::atomic as backend;

use super::Ordering;

/// What an event did to its object.
#[derive(Clone, Copy)]
enum Op {
    Load,
    Store,
    Swap,
    CasOk,
    CasFail,
    Rmw(&'static str),
    Fence,
    CellRead,
    CellWrite,
    /// The object was dropped.
    Free,
    /// This operation found the object dropped.
    UseAfterFree(&'static str),
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Load => "load",
            Op::Store => "store",
            Op::Swap => "swap",
            Op::CasOk | Op::CasFail => "compare_exchange",
            Op::Rmw(name) => name,
            Op::Fence => "fence",
            Op::CellRead => "cell-read",
            Op::CellWrite => "cell-write",
            Op::Free => "free",
            Op::UseAfterFree(_) => "use-after-free",
        }
    }
}

struct Event {
    thread: usize,
    obj: u32,
    op: Op,
    ordering: Option<Ordering>,
    value: Option<u64>,
    value2: Option<u64>,
    at: &'static Location<'static>,
    /// Where a `Free` happened (a drop has no caller location).
    site: Option<StdArc<Site>>,
}

/// The line of the core that dropped an object: the first frame in this
/// crate's `src/` outside this file, resolved only when printed.
struct Site {
    backtrace: Backtrace,
    skip: usize,
    /// The freeing thread's latest traced line, when the backtrace has
    /// no line information (a build without debug info).
    after: Option<&'static Location<'static>>,
    resolved: OnceLock<String>,
}

impl Site {
    fn resolve(&self) -> &str {
        self.resolved.get_or_init(|| {
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
            let text = self.backtrace.to_string();
            let frame = text
                .lines()
                .filter_map(|line| {
                    let path = line.trim().strip_prefix("at ")?;
                    let path = path.strip_prefix(root).unwrap_or(path);
                    let path = path.strip_prefix("./").unwrap_or(path);
                    let (file_line, _column) = path.rsplit_once(':')?;
                    (file_line.starts_with("src/")
                        && !file_line.starts_with("src/sync.rs:")
                        && !file_line.starts_with("src/sync/"))
                    .then(|| file_line.to_string())
                })
                .nth(self.skip);
            match (frame, self.after) {
                (Some(frame), _) => frame,
                (None, Some(at)) => format!("{}:{}", at.file(), at.line()),
                (None, None) => "?:0".to_string(),
            }
        })
    }
}

/// A dropped object of the running execution.
struct Freed {
    thread: Option<usize>,
    site: StdArc<Site>,
}

struct Object {
    kind: &'static str,
    init: Option<u64>,
    at: &'static Location<'static>,
}

#[derive(Default)]
struct State {
    execution: u64,
    objects: Vec<Object>,
    events: Vec<Event>,
    /// Written already: the first panic of an execution is its failure
    /// (a checker may panic again to propagate it).
    dumped: bool,
    /// Dropped objects, by number and by address (an object whose
    /// memory was reused has lost its number).
    freed: Option<(HashMap<u32, Freed>, HashMap<usize, u32>)>,
}

static FILE: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
static STATE: StdMutex<State> = StdMutex::new(State {
    execution: 0,
    objects: Vec::new(),
    events: Vec::new(),
    dumped: false,
    freed: None,
});

std::thread_local! {
    /// Set while [`quietly`] runs: the panic hook stays silent.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, which may panic (a checker asked for its thread outside a
/// running thread, e.g. while it drops the execution's globals), without
/// the panic being reported or ending the execution.
fn quietly<R>(f: impl FnOnce() -> R) -> Option<R> {
    hook();
    QUIET.with(|q| q.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(false));
    r
}

/// Whether a recorder is installed (`VICTIM_POOL_TRACE` set); installs
/// the panic hook that writes the trace on first use.
#[inline]
fn on() -> bool {
    FILE.get_or_init(|| {
        let path = std::env::var_os("VICTIM_POOL_TRACE").map(std::path::PathBuf::from)?;
        hook();
        Some(path)
    })
    .is_some()
}

/// Installs (once) the panic hook that stays silent inside [`quietly`]
/// and otherwise writes the trace, if a recorder is installed, before
/// the previous hook (the checker's, which prints the schedule) runs.
fn hook() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                return;
            }
            dump(&info.to_string());
            previous(info);
        }));
    });
}

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes the current execution's trace (called by the panic hook).
fn dump(message: &str) {
    let Some(Some(path)) = FILE.get() else { return };
    let mut st = state();
    if st.dumped {
        return;
    }
    st.dumped = true;
    let mut out = String::new();
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    for (id, o) in st.objects.iter().enumerate() {
        let _ = writeln!(
            out,
            "O\t{id}\t{}\t{}:{}\t{}",
            o.kind,
            o.at.file(),
            o.at.line(),
            opt(o.init)
        );
    }
    for e in &st.events {
        let op = match e.op {
            Op::CasOk => "cas-ok",
            Op::CasFail => "cas-fail",
            op => op.name(),
        };
        let ordering = match (e.op, e.ordering) {
            (Op::UseAfterFree(attempted), _) => attempted.to_string(),
            (_, o) => o.map_or("-".to_string(), |o| format!("{o:?}")),
        };
        let obj = if matches!(e.op, Op::Fence) {
            "-".to_string()
        } else {
            e.obj.to_string()
        };
        let at = match &e.site {
            Some(site) => site.resolve().to_string(),
            None => format!("{}:{}", e.at.file(), e.at.line()),
        };
        let _ = writeln!(
            out,
            "E\t{}\t{obj}\t{op}\t{ordering}\t{}\t{}\t{at}",
            e.thread,
            opt(e.value),
            opt(e.value2),
        );
    }
    let _ = writeln!(out, "P\t{}", message.replace(['\n', '\t'], " "));
    let _ = std::fs::write(path, out);
}

/// The checker's number for the running execution: a per-execution
/// static of the checker, which neither loom nor shuttle turns into a
/// scheduling point when read.
#[cfg(loom)]
fn execution() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    loom::lazy_static! {
        static ref EXECUTION: u64 = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    *EXECUTION
}

/// Shuttle: a label on the execution's first task (labels are
/// per-execution task state and add no scheduling point).
#[cfg(all(shuttle, not(loom)))]
fn execution() -> u64 {
    #[derive(Clone, Debug)]
    struct Execution(u64);
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let main = shuttle::current::TaskId::from(0);
    if let Some(Execution(n)) = shuttle::current::get_label_for_task::<Execution>(main) {
        return n;
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shuttle::current::set_label_for_task(main, Execution(n));
    n
}

#[cfg(loom)]
fn thread() -> usize {
    let id = format!("{:?}", loom::thread::current().id());
    id.trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .parse()
        .unwrap_or(usize::MAX)
}

#[cfg(all(shuttle, not(loom)))]
fn thread() -> usize {
    usize::from(shuttle::current::me())
}

/// The state of the running execution (a new one starts a new trace).
fn current() -> std::sync::MutexGuard<'static, State> {
    let execution = execution();
    let mut st = state();
    if st.execution != execution {
        *st = State {
            execution,
            ..State::default()
        };
    }
    st
}

fn new_object(kind: &'static str, init: Option<u64>, at: &'static Location<'static>) -> u32 {
    if !on() {
        return u32::MAX;
    }
    let mut st = current();
    st.objects.push(Object { kind, init, at });
    (st.objects.len() - 1) as u32
}

/// Records an event; returns its index (to fill in a value later).
fn record(
    obj: u32,
    op: Op,
    ordering: Option<Ordering>,
    value: Option<u64>,
    value2: Option<u64>,
    at: &'static Location<'static>,
) -> usize {
    let thread = thread();
    let mut st = current();
    st.events.push(Event {
        thread,
        obj,
        op,
        ordering,
        value,
        value2,
        at,
        site: None,
    });
    st.events.len() - 1
}

/// A live object's seal is its number xor this; one being dropped, xor
/// [`DYING`]; a dropped one's, xor [`FREED`].
const LIVE: u32 = 0x5EA1_ED00;
const DYING: u32 = 0xD1E5_0000;
const FREED: u32 = 0xF4EE_D000;

/// What every traced object carries besides the checker's own object:
/// its number in the trace, where it was created, the seal its `Drop`
/// breaks, and the thread that is dropping it.
#[derive(Debug)]
struct Header {
    id: u32,
    seal: std::sync::atomic::AtomicU32,
    dropper: std::sync::atomic::AtomicUsize,
    created: &'static Location<'static>,
}

impl Header {
    #[track_caller]
    fn new(kind: &'static str, init: Option<u64>) -> Self {
        let created = Location::caller();
        let id = new_object(kind, init, created);
        Self {
            id,
            seal: std::sync::atomic::AtomicU32::new(id ^ LIVE),
            dropper: std::sync::atomic::AtomicUsize::new(usize::MAX),
            created,
        }
    }

    fn seal(&self) -> u32 {
        self.seal.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Panics if the object was dropped: called before every access.
    #[inline]
    #[track_caller]
    fn check(&self, kind: &'static str, op: &'static str) {
        self.check_at(kind, op, Location::caller());
    }

    #[inline]
    fn check_at(&self, kind: &'static str, op: &'static str, at: &'static Location<'static>) {
        if self.seal() != self.id ^ LIVE {
            self.check_slow(kind, op, at);
        }
    }

    #[cold]
    fn check_slow(&self, kind: &'static str, op: &'static str, at: &'static Location<'static>) {
        // The thread that is dropping the object may still use it (and
        // so may the checker's teardown, outside every thread).
        if self.seal() == self.id ^ DYING
            && quietly(thread)
                .is_none_or(|me| self.dropper.load(std::sync::atomic::Ordering::Relaxed) == me)
        {
            return;
        }
        use_after_free(self, kind, op, at);
    }

    /// The object's owner has started to drop it: from now on only this
    /// thread may use it.
    fn dying(&self) {
        if self.seal() != self.id ^ LIVE {
            return;
        }
        // Outside every thread (the checker tears the execution down):
        // nobody else can run, nothing to mark.
        let Some(me) = quietly(thread) else { return };
        self.dropper.store(me, std::sync::atomic::Ordering::Relaxed);
        self.seal
            .store(self.id ^ DYING, std::sync::atomic::Ordering::Relaxed);
        if on() {
            dropped(self.id, self as *const Self as usize, Some(me), 1);
        }
    }

    /// Breaks the seal (from the wrapper's `Drop`).
    fn drop(&mut self) {
        let was_dying = self.seal() == self.id ^ DYING;
        let freed = self.id ^ FREED;
        // SAFETY: `as_ptr` is valid for writes (`&mut self`); volatile,
        // so the store is not elided although the memory is freed right
        // after.
        unsafe { core::ptr::write_volatile(self.seal.as_ptr(), freed) };
        if on() && !was_dying {
            dropped(self.id, self as *const Self as usize, quietly(thread), 0);
        }
    }
}

/// Records the drop of object `id` (recorder installed) by `thread`
/// (`None`: the checker could not say, because it is tearing the
/// execution down). Uses the current trace without starting a new one.
/// `skip`: frames of the core to pass over to find the line that
/// frees (the hook in a `Drop` that calls [`Header::dying`]).
fn dropped(id: u32, addr: usize, thread: Option<usize>, skip: usize) {
    let mut st = state();
    if id as usize >= st.objects.len() {
        return;
    }
    // One backtrace per run of drops (a segment drops all its objects).
    let last = st.events.last();
    let site = match last {
        Some(e) if matches!(e.op, Op::Free) && Some(e.thread) == thread => e.site.clone(),
        _ => None,
    };
    let site = site.unwrap_or_else(|| {
        let after = thread.and_then(|t| {
            st.events
                .iter()
                .rev()
                .find(|e| e.thread == t && !matches!(e.op, Op::Free))
                .map(|e| e.at)
        });
        StdArc::new(Site {
            backtrace: Backtrace::force_capture(),
            skip,
            after,
            resolved: OnceLock::new(),
        })
    });
    if let Some(thread) = thread {
        let at = site.after.unwrap_or(Location::caller());
        st.events.push(Event {
            thread,
            obj: id,
            op: Op::Free,
            ordering: None,
            value: None,
            value2: None,
            at,
            site: Some(site.clone()),
        });
    }
    let (by_id, by_addr) = st.freed.get_or_insert_with(Default::default);
    by_id.insert(id, Freed { thread, site });
    by_addr.insert(addr, id);
}

/// An access found its object dropped: records it and panics.
#[cold]
#[inline(never)]
fn use_after_free(
    header: &Header,
    kind: &'static str,
    op: &'static str,
    at: &'static Location<'static>,
) -> ! {
    let thread = thread();
    // A broken seal that is not one `Drop` wrote: the freed memory was
    // reused, and the header's other fields are not to be trusted.
    let seal = header.seal();
    let dying = seal == header.id ^ DYING;
    let intact = dying || seal == header.id ^ FREED;
    let addr = header as *const Header as usize;
    let mut what = if intact && header.id == u32::MAX {
        // Created with the recorder off: no number.
        format!(
            "an {kind} created at {}:{}",
            header.created.file(),
            header.created.line()
        )
    } else if intact {
        format!(
            "object {} ({kind} created at {}:{})",
            header.id,
            header.created.file(),
            header.created.line()
        )
    } else {
        format!("an {kind} whose memory was already reused")
    };
    let mut by = String::new();
    if on() {
        let mut st = current();
        let id = match &st.freed {
            Some((_, by_addr)) if !intact => by_addr.get(&addr).copied(),
            _ => Some(header.id),
        };
        if let Some(id) = id {
            if !intact {
                if let Some(o) = st.objects.get(id as usize) {
                    what = format!(
                        "object {id} ({} created at {}:{}; its memory already reused)",
                        o.kind,
                        o.at.file(),
                        o.at.line()
                    );
                }
            }
            if let Some(f) = st.freed.as_ref().and_then(|(by_id, _)| by_id.get(&id)) {
                by = format!(
                    "; {} by thread {} at {}",
                    if dying { "being freed" } else { "freed" },
                    f.thread.map_or("?".to_string(), |t| t.to_string()),
                    f.site.resolve()
                );
            }
            st.events.push(Event {
                thread,
                obj: id,
                op: Op::UseAfterFree(op),
                ordering: None,
                value: None,
                value2: None,
                at,
                site: None,
            });
        }
    } else if dying {
        by = format!(
            "; being freed by thread {}",
            header.dropper.load(std::sync::atomic::Ordering::Relaxed)
        );
    } else {
        by = "; set VICTIM_POOL_TRACE=FILE to see who freed it".to_string();
    }
    panic!(
        "use after free of {what}: {op} by thread {thread} at {}:{}{by}",
        at.file(),
        at.line()
    );
}

/// `fence`, recorded.
#[track_caller]
pub(crate) fn fence(order: Ordering) {
    backend::fence(order);
    if on() {
        record(0, Op::Fence, Some(order), None, None, Location::caller());
    }
}

/// The traced atomics: the checker's atomic plus the object's number.
macro_rules! traced_atomic {
    ($name:ident, $t:ty, $to:expr, $($rmw:ident => $f:expr),*) => {
        pub(crate) struct $name {
            inner: backend::$name,
            header: Header,
        }

        impl Drop for $name {
            fn drop(&mut self) {
                self.header.drop();
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.inner.fmt(f)
            }
        }

        #[allow(dead_code)]
        impl $name {
            #[track_caller]
            pub(crate) fn new(v: $t) -> Self {
                let header = Header::new(stringify!($name), Some($to(v)));
                Self { inner: backend::$name::new(v), header }
            }

            /// Records an operation, after checking again that the
            /// object was not dropped while the checker ran another
            /// thread inside it.
            #[track_caller]
            fn event(&self, op: Op, o: Ordering, v: $t, v2: Option<$t>) {
                self.check(op.name());
                if on() {
                    record(self.header.id, op, Some(o), Some($to(v)), v2.map($to), Location::caller());
                }
            }

            #[track_caller]
            fn check(&self, op: &'static str) {
                self.header.check(stringify!($name), op);
            }

            /// Its owner has started to drop it: another thread's access
            /// from now on is a use after free.
            pub(crate) fn dying(&self) {
                self.header.dying();
            }

            #[track_caller]
            pub(crate) fn load(&self, o: Ordering) -> $t {
                self.check("load");
                let v = self.inner.load(o);
                self.event(Op::Load, o, v, None);
                v
            }

            #[track_caller]
            pub(crate) fn store(&self, v: $t, o: Ordering) {
                self.check("store");
                self.inner.store(v, o);
                self.event(Op::Store, o, v, None);
            }

            #[track_caller]
            pub(crate) fn swap(&self, v: $t, o: Ordering) -> $t {
                self.check("swap");
                let old = self.inner.swap(v, o);
                self.event(Op::Swap, o, old, Some(v));
                old
            }

            #[track_caller]
            fn cas_event(&self, r: Result<$t, $t>, new: $t, ok: Ordering, fail: Ordering) {
                match r {
                    Ok(v) => self.event(Op::CasOk, ok, v, Some(new)),
                    Err(v) => self.event(Op::CasFail, fail, v, None),
                }
            }

            #[track_caller]
            pub(crate) fn compare_exchange(
                &self,
                current: $t,
                new: $t,
                ok: Ordering,
                fail: Ordering,
            ) -> Result<$t, $t> {
                self.check("compare_exchange");
                let r = self.inner.compare_exchange(current, new, ok, fail);
                self.cas_event(r, new, ok, fail);
                r
            }

            #[track_caller]
            pub(crate) fn compare_exchange_weak(
                &self,
                current: $t,
                new: $t,
                ok: Ordering,
                fail: Ordering,
            ) -> Result<$t, $t> {
                self.check("compare_exchange_weak");
                let r = self.inner.compare_exchange_weak(current, new, ok, fail);
                self.cas_event(r, new, ok, fail);
                r
            }

            $(
                #[track_caller]
                pub(crate) fn $rmw(&self, v: $t, o: Ordering) -> $t {
                    self.check(stringify!($rmw));
                    let old = self.inner.$rmw(v, o);
                    #[allow(clippy::redundant_closure_call)]
                    let new = ($f)(old, v);
                    self.event(Op::Rmw(stringify!($rmw)), o, old, Some(new));
                    old
                }
            )*
        }
    };
}

traced_atomic!(AtomicBool, bool, u64::from,
    fetch_or => |a: bool, b: bool| a | b,
    fetch_and => |a: bool, b: bool| a & b);
traced_atomic!(AtomicU64, u64, core::convert::identity,
    fetch_add => u64::wrapping_add,
    fetch_sub => u64::wrapping_sub,
    fetch_or => |a: u64, b: u64| a | b,
    fetch_and => |a: u64, b: u64| a & b,
    fetch_max => u64::max,
    fetch_min => u64::min);
traced_atomic!(AtomicUsize, usize, |v: usize| v as u64,
    fetch_add => usize::wrapping_add,
    fetch_sub => usize::wrapping_sub,
    fetch_or => |a: usize, b: usize| a | b,
    fetch_and => |a: usize, b: usize| a & b,
    fetch_max => usize::max,
    fetch_min => usize::min);

/// `AtomicPtr`, recorded (values are addresses).
pub(crate) struct AtomicPtr<T> {
    inner: backend::AtomicPtr<T>,
    header: Header,
}

impl<T> Drop for AtomicPtr<T> {
    fn drop(&mut self) {
        self.header.drop();
    }
}

impl<T> fmt::Debug for AtomicPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

fn addr<T>(p: *mut T) -> u64 {
    p as usize as u64
}

#[allow(dead_code)]
impl<T> AtomicPtr<T> {
    #[track_caller]
    pub(crate) fn new(p: *mut T) -> Self {
        let header = Header::new("AtomicPtr", Some(addr(p)));
        Self {
            inner: backend::AtomicPtr::new(p),
            header,
        }
    }

    #[track_caller]
    fn check(&self, op: &'static str) {
        self.header.check("AtomicPtr", op);
    }

    /// Its owner has started to drop it: another thread's access from
    /// now on is a use after free.
    pub(crate) fn dying(&self) {
        self.header.dying();
    }

    /// Records an operation (after checking the object again, as the
    /// atomics do).
    #[track_caller]
    fn event(&self, op: Op, o: Ordering, v: *mut T, v2: Option<*mut T>) {
        self.check(op.name());
        if on() {
            record(
                self.header.id,
                op,
                Some(o),
                Some(addr(v)),
                v2.map(addr),
                Location::caller(),
            );
        }
    }

    #[track_caller]
    pub(crate) fn load(&self, o: Ordering) -> *mut T {
        self.check("load");
        let v = self.inner.load(o);
        self.event(Op::Load, o, v, None);
        v
    }

    #[track_caller]
    pub(crate) fn store(&self, v: *mut T, o: Ordering) {
        self.check("store");
        self.inner.store(v, o);
        self.event(Op::Store, o, v, None);
    }

    #[track_caller]
    pub(crate) fn swap(&self, v: *mut T, o: Ordering) -> *mut T {
        self.check("swap");
        let old = self.inner.swap(v, o);
        self.event(Op::Swap, o, old, Some(v));
        old
    }

    #[track_caller]
    pub(crate) fn compare_exchange(
        &self,
        current: *mut T,
        new: *mut T,
        ok: Ordering,
        fail: Ordering,
    ) -> Result<*mut T, *mut T> {
        self.check("compare_exchange");
        let r = self.inner.compare_exchange(current, new, ok, fail);
        match r {
            Ok(v) => self.event(Op::CasOk, ok, v, Some(new)),
            Err(v) => self.event(Op::CasFail, fail, v, None),
        }
        r
    }

    #[track_caller]
    pub(crate) fn compare_exchange_weak(
        &self,
        current: *mut T,
        new: *mut T,
        ok: Ordering,
        fail: Ordering,
    ) -> Result<*mut T, *mut T> {
        self.check("compare_exchange_weak");
        let r = self.inner.compare_exchange_weak(current, new, ok, fail);
        match r {
            Ok(v) => self.event(Op::CasOk, ok, v, Some(new)),
            Err(v) => self.event(Op::CasFail, fail, v, None),
        }
        r
    }
}

/// A cell value the trace can show: only a plain `u64` (possibly in a
/// `MaybeUninit`) right after it was written, where every byte is
/// initialised; anything else is recorded without a value.
fn cell_value<T: ?Sized>(p: *const T) -> Option<u64> {
    let name = core::any::type_name::<T>();
    if name == "u64" || name == "core::mem::maybe_uninit::MaybeUninit<u64>" {
        // SAFETY:
        // - `T` is `u64` or `MaybeUninit<u64>` (8 bytes, no padding), so
        //   `p` is a thin pointer to 8 bytes, and this is called only
        //   after a write through it, so they are initialised;
        // - the caller still holds the cell's access (inside `with_mut`).
        Some(unsafe { p.cast::<u64>().read() })
    } else {
        None
    }
}

#[cfg(loom)]
type Inner<T> = loom::cell::UnsafeCell<T>;
#[cfg(all(shuttle, not(loom)))]
type Inner<T> = core::cell::UnsafeCell<T>;

/// The facade's `UnsafeCell`, recorded: reads (`with`) and writes
/// (`with_mut`, with the value written when it is a `u64`).
#[derive(Debug)]
pub(crate) struct UnsafeCell<T: ?Sized> {
    header: Header,
    inner: Inner<T>,
}

impl<T: ?Sized> Drop for UnsafeCell<T> {
    fn drop(&mut self) {
        self.header.drop();
    }
}

impl<T> UnsafeCell<T> {
    #[track_caller]
    pub(crate) fn new(value: T) -> Self {
        let header = Header::new("UnsafeCell", None);
        Self {
            header,
            inner: Inner::new(value),
        }
    }
}

impl<T: ?Sized> UnsafeCell<T> {
    /// Its owner has started to drop it: another thread's access from
    /// now on is a use after free.
    pub(crate) fn dying(&self) {
        self.header.dying();
    }

    /// Runs `f` with a shared raw pointer to the contents.
    #[track_caller]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        self.header.check("UnsafeCell", "cell-read");
        if on() {
            // Recorded first: a racing access makes loom panic inside.
            record(
                self.header.id,
                Op::CellRead,
                None,
                None,
                None,
                Location::caller(),
            );
        }
        let at = Location::caller();
        let check = |p: *const T| {
            // Again after the checker may have run another thread.
            self.header.check_at("UnsafeCell", "cell-read", at);
            f(p)
        };
        #[cfg(loom)]
        return self.inner.with(check);
        #[cfg(all(shuttle, not(loom)))]
        return check(self.inner.get());
    }

    /// Runs `f` with an exclusive raw pointer to the contents.
    #[track_caller]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.header.check("UnsafeCell", "cell-write");
        let at = Location::caller();
        if !on() {
            let check = |p: *mut T| {
                // Again after the checker may have run another thread.
                self.header.check_at("UnsafeCell", "cell-write", at);
                f(p)
            };
            #[cfg(loom)]
            return self.inner.with_mut(check);
            #[cfg(all(shuttle, not(loom)))]
            return check(self.inner.get());
        }
        let index = record(self.header.id, Op::CellWrite, None, None, None, at);
        let g = |p: *mut T| {
            self.header.check_at("UnsafeCell", "cell-write", at);
            let r = f(p);
            let value = cell_value::<T>(p);
            if let Some(e) = state().events.get_mut(index) {
                e.value = value;
            }
            r
        };
        #[cfg(loom)]
        return self.inner.with_mut(g);
        #[cfg(all(shuttle, not(loom)))]
        return g(self.inner.get());
    }
}
