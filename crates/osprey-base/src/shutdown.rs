//! One stop signal for every loop in the process: threads wait on it with a timeout (instead
//! of sleeping in small steps and polling a flag), async tasks await it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::lock;

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    mutex: Mutex<Vec<Waker>>,
    cond: Condvar,
}

/// A cloneable stop token. [`Shutdown::trigger`] wakes every waiter at once, sync or async.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl Shutdown {
    /// A token that has not been triggered.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks everything holding a clone to stop. Idempotent.
    pub fn trigger(&self) {
        let wakers = {
            let mut w = lock(&self.inner.mutex);
            self.inner.stopped.store(true, Ordering::Release);
            std::mem::take(&mut *w)
        };
        self.inner.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// Whether [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Blocks up to `d`, returning early when triggered. True if still running afterwards
    /// (so `while sd.sleep(backoff) { … }` reads naturally).
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut g = lock(&self.inner.mutex);
        while !self.is_triggered() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = self
                .inner
                .cond
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        !self.is_triggered()
    }

    /// Resolves once triggered.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            token: self.clone(),
        }
    }
}

/// The future returned by [`Shutdown::cancelled`].
#[derive(Debug)]
pub struct Cancelled {
    token: Shutdown,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.token.is_triggered() {
            return Poll::Ready(());
        }
        let mut w = lock(&self.token.inner.mutex);
        // Checked again under the lock: trigger() sets the flag while holding it.
        if self.token.is_triggered() {
            return Poll::Ready(());
        }
        if !w.iter().any(|x| x.will_wake(cx.waker())) {
            w.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_returns_early_when_triggered() {
        let sd = Shutdown::new();
        assert!(sd.sleep(Duration::from_millis(1)));
        let other = sd.clone();
        let t = std::thread::spawn(move || other.sleep(Duration::from_secs(600)));
        std::thread::sleep(Duration::from_millis(20));
        sd.trigger();
        assert!(
            !t.join().expect("join"),
            "woken by the trigger, not the timeout"
        );
        assert!(sd.is_triggered());
        assert!(!sd.sleep(Duration::from_secs(600)));
    }

    #[test]
    fn cancelled_future_wakes() {
        struct Flag(AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let sd = Shutdown::new();
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        let mut fut = Box::pin(sd.cancelled());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        sd.trigger();
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    }
}
