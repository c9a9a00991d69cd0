//! Several inferences in flight without waves: each of the engine's throughput requests
//! (`--streams`) is a [`Runner`] on a thread of its own (`osprey-stream-<model>-<i>`), and the
//! worker thread hands a runner the next job as soon as that runner is free — a stream that
//! finishes early never waits for the others, and a stream preempted by a decode thread does
//! not hold the rest back. The worker still takes jobs in lane order (HTTP first), one at a
//! time, only when a runner is free, so priorities hold as before. A lone job (no runner busy,
//! nothing else queued) runs on the worker thread itself on the latency compilation, with every
//! inference thread.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use osprey_detect::Runner;

/// Work for a runner thread: runs on its runner, replies and counts.
pub(crate) type Task = Box<dyn FnOnce(&mut Runner) + Send>;

/// The runners and which of them are free.
pub(crate) struct Pool {
    free: Arc<(Mutex<Vec<usize>>, Condvar)>,
    senders: Vec<SyncSender<Task>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts one thread per runner.
    pub(crate) fn start(model: &str, runners: Vec<Runner>) -> std::io::Result<Pool> {
        let free: Vec<usize> = (0..runners.len()).rev().collect();
        let free = Arc::new((Mutex::new(free), Condvar::new()));
        let mut senders = Vec::with_capacity(runners.len());
        let mut threads = Vec::with_capacity(runners.len());
        for (i, mut runner) in runners.into_iter().enumerate() {
            let (tx, rx): (SyncSender<Task>, Receiver<Task>) = sync_channel(1);
            let free = Arc::clone(&free);
            let name = format!("osprey-stream-{model}-{i}");
            threads.push(std::thread::Builder::new().name(name).spawn(move || {
                for task in rx {
                    task(&mut runner);
                    let (lock, cv) = &*free;
                    osprey_base::lock(lock).push(i);
                    cv.notify_all();
                }
            })?);
            senders.push(tx);
        }
        Ok(Pool {
            free,
            senders,
            threads,
        })
    }

    /// Waits until a runner is free and reserves it.
    pub(crate) fn reserve(&self) -> usize {
        let (lock, cv) = &*self.free;
        let mut free = osprey_base::lock(lock);
        loop {
            if let Some(i) = free.pop() {
                return i;
            }
            free = cv.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Gives back a reserved runner unused.
    pub(crate) fn release(&self, i: usize) {
        let (lock, cv) = &*self.free;
        osprey_base::lock(lock).push(i);
        cv.notify_all();
    }

    /// Whether every runner but the reserved one is idle.
    pub(crate) fn idle_but_one(&self) -> bool {
        osprey_base::lock(&self.free.0).len() + 1 == self.senders.len()
    }

    /// Runs `task` on the reserved runner `i`.
    pub(crate) fn send(&self, i: usize, task: Task) {
        // The runner was free, so its one-slot channel has room; a runner whose thread has
        // ended (it cannot: it only ends when the pool is dropped) would drop the task, and the
        // client sees its reply channel closed.
        let _ = self.senders[i].send(task);
    }

    /// Ends the runner threads after their current job.
    pub(crate) fn shutdown(mut self) {
        self.senders.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
