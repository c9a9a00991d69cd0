//! A fixed pool of named threads (`osprey-decode-N`) for image decoding and letterboxing.
//!
//! Decoding is CPU-bound and allocation-heavy, so it stays off the async runtime. A fixed pool
//! (rather than tokio's elastic blocking pool) bounds both the CPU it can take and the number of
//! allocator arenas that hold freed image buffers. Admission is a semaphore sized to the pool, so
//! the job channel never fills and callers wait asynchronously for a slot.

use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;

type Task = Box<dyn FnOnce() + Send + 'static>;

/// The pool; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct DecodePool {
    tx: SyncSender<Task>,
    slots: Arc<tokio::sync::Semaphore>,
}

/// Why a job did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// The pool has shut down.
    #[error("the decode pool has stopped")]
    Stopped,
}

impl DecodePool {
    /// Starts `threads` decode threads.
    pub fn new(threads: usize) -> std::io::Result<DecodePool> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::sync_channel::<Task>(threads);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("osprey-decode-{i}"))
                .spawn(move || loop {
                    let task = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    match task {
                        Ok(t) => t(),
                        Err(_) => return,
                    }
                })?;
        }
        Ok(DecodePool {
            tx,
            slots: Arc::new(tokio::sync::Semaphore::new(threads)),
        })
    }

    /// Runs `f` on a pool thread once a slot is free and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| PoolError::Stopped)?;
        let (reply, rx) = tokio::sync::oneshot::channel();
        let task: Task = Box::new(move || {
            let out = f();
            drop(permit);
            let _ = reply.send(out);
        });
        self.tx.try_send(task).map_err(|_| PoolError::Stopped)?;
        rx.await.map_err(|_| PoolError::Stopped)
    }
}

impl osprey_base::Kinded for PoolError {
    fn kind(&self) -> osprey_base::ErrorKind {
        osprey_base::ErrorKind::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_on_named_threads() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        let pool = DecodePool::new(2).expect("pool");
        let names = rt.block_on(async {
            let mut out = Vec::new();
            for _ in 0..6 {
                out.push(
                    pool.run(|| std::thread::current().name().unwrap_or("").to_string())
                        .await
                        .expect("ran"),
                );
            }
            out
        });
        assert!(
            names.iter().all(|n| n.starts_with("osprey-decode-")),
            "{names:?}"
        );
    }
}
