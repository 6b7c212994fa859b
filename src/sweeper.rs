//! A background thread that runs [`cleanup_all`] on an interval: the
//! stand-in for Go's GC cadence.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use crate::pool::cleanup_all;
use crate::sync::thread;

/// Runs [`cleanup_all`](crate::cleanup_all) every `interval` on a
/// background thread until dropped (dropping stops and joins it).
///
/// ```
/// use std::time::Duration;
/// let sweeper = victim_pool::Sweeper::spawn(Duration::from_millis(100));
/// // ... pools are cleaned every 100 ms, like Go's GC would ...
/// drop(sweeper);
/// ```
#[derive(Debug)]
pub struct Sweeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Sweeper {
    /// Starts the sweeper thread.
    ///
    /// # Panics
    ///
    /// If `interval` is zero (that would spin a core), or the thread cannot
    /// be spawned.
    pub fn spawn(interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "Sweeper::spawn: interval must be non-zero"
        );
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("victim-pool-sweeper".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => cleanup_all(),
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .expect("failed to spawn the sweeper thread");
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic in the sweeper came from a `T::drop`; it was already
            // reported on that thread.
            let _ = thread.join();
        }
    }
}
