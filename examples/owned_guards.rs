//! Pools that outlive a scope: a `static` pool built on first use, and
//! owned guards that move into spawned threads and async tasks.
//!
//! Run: `cargo run --release --example owned_guards`.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use victim_pool::{OwnedPoolGuard, Pool};

/// A process-wide buffer pool: `LazyLock` builds it on first use; a
/// `&'static Pool` makes `get_guard` guards `'static` too.
static BUFFERS: LazyLock<Pool<Vec<u8>>> = LazyLock::new(|| {
    Pool::builder()
        .new_fn(|| Vec::with_capacity(4096))
        .reset(Vec::clear)
        .keep_if(|buf: &Vec<u8>| buf.capacity() <= 64 << 10)
        .build()
});

/// An async task that holds a pooled buffer across an `.await`: the owned
/// guard is `Send + 'static`, as a multi-threaded executor requires.
async fn render(pool: Arc<Pool<String>>, n: u32) -> usize {
    let mut out: OwnedPoolGuard<String> = pool.get_owned();
    out.push_str("item ");
    YieldOnce(false).await;
    out.push_str(&n.to_string());
    out.len()
}

fn main() {
    // The static pool, from several threads.
    let lens: Vec<usize> = (0..4)
        .map(|i| {
            thread::spawn(move || {
                let mut buf = BUFFERS.get_guard();
                buf.extend(std::iter::repeat_n(b'x', 100 * (i + 1)));
                buf.len()
            })
        })
        .map(|t| t.join().unwrap())
        .collect();
    println!(
        "static pool: buffers of {lens:?} bytes, stats {:?}",
        BUFFERS.stats()
    );

    // Owned guards in async tasks, each task on its own thread.
    let strings = Arc::new(
        Pool::builder()
            .new_fn(String::new)
            .reset(String::clear)
            .build(),
    );
    let tasks: Vec<_> = (0..4)
        .map(|n| {
            let strings = Arc::clone(&strings);
            thread::spawn(move || block_on(render(strings, n)))
        })
        .collect();
    let rendered: Vec<usize> = tasks.into_iter().map(|t| t.join().unwrap()).collect();
    println!(
        "async tasks rendered {rendered:?}; string pool {:?}",
        strings.stats()
    );
}

/// A future that is pending once (an `.await` point).
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A minimal executor: polls `future` on this thread until it is ready.
fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}
