//! Group commit: requests that write the same thing at once (a rush of signups for one shift)
//! queue by key and are written together, one transaction per batch instead of one per request.
//!
//! Under a rush, per-request transactions queue on the same row lock and pay a commit each, so
//! the database, not the server, sets the pace. One writer per key that takes everything waiting
//! keeps the rule in one transaction (and so exact) and makes the cost per request small.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

/// Writes one batch of jobs for a key; answers one result per job, in order.
pub type Run<K, J, R> = Arc<dyn Fn(K, Vec<J>) -> BoxFuture<'static, Vec<R>> + Send + Sync>;

type Queue<J, R> = mpsc::Sender<(J, oneshot::Sender<R>)>;

/// The writer for a key stopped before answering (it panicked): the job's fate is unknown.
#[derive(Debug, thiserror::Error)]
#[error("the batch writer stopped before answering")]
pub struct WriterGone;

/// Queues by key, each with one writer task that exists while there is work.
pub struct Batcher<K, J, R> {
    inner: Arc<Inner<K, J, R>>,
}

impl<K, J, R> Clone for Batcher<K, J, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K, J, R> {
    queues: Mutex<HashMap<K, Queue<J, R>>>,
    run: Run<K, J, R>,
    max_batch: usize,
    idle: Duration,
    runtime: tokio::runtime::Handle,
}

impl<K, J, R> Batcher<K, J, R>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    J: Send + 'static,
    R: Send + 'static,
{
    /// `run` writes a batch of at most `max_batch` jobs; a key's writer stops after `idle`
    /// without work, so idle keys cost nothing. Writers run on the runtime this is made on, not
    /// on the request threads, whose busy queues would stall every await of a batch.
    pub fn new(max_batch: usize, idle: Duration, run: Run<K, J, R>) -> Self {
        Self {
            inner: Arc::new(Inner {
                queues: Mutex::new(HashMap::new()),
                run,
                max_batch: max_batch.max(1),
                idle,
                runtime: tokio::runtime::Handle::current(),
            }),
        }
    }

    /// Queues `job` under `key` and waits for its result.
    pub async fn submit(&self, key: K, job: J) -> Result<R, WriterGone> {
        let (reply, answer) = oneshot::channel();
        let mut item = (job, reply);
        loop {
            let queue = self.queue(&key);
            match queue.send(item).await {
                Ok(()) => break,
                // The writer stopped for idleness between lookup and send: start a new one.
                Err(mpsc::error::SendError(back)) => {
                    self.forget(&key, &queue);
                    item = back;
                }
            }
        }
        answer.await.map_err(|_| WriterGone)
    }

    fn queue(&self, key: &K) -> Queue<J, R> {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = queues.get(key)
            && !q.is_closed()
        {
            return q.clone();
        }
        let (tx, rx) = mpsc::channel(self.inner.max_batch * 4);
        queues.insert(key.clone(), tx.clone());
        self.inner
            .runtime
            .spawn(writer(self.inner.clone(), key.clone(), rx));
        tx
    }

    fn forget(&self, key: &K, dead: &Queue<J, R>) {
        let mut queues = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
        if queues.get(key).is_some_and(|q| q.same_channel(dead)) {
            queues.remove(key);
        }
    }
}

async fn writer<K, J, R>(
    inner: Arc<Inner<K, J, R>>,
    key: K,
    mut rx: mpsc::Receiver<(J, oneshot::Sender<R>)>,
) where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    J: Send + 'static,
    R: Send + 'static,
{
    let mut closing = false;
    loop {
        let first = if closing {
            // Closed: whatever was queued before the close is still answered.
            match rx.try_recv() {
                Ok(item) => item,
                Err(_) => return,
            }
        } else {
            match tokio::time::timeout(inner.idle, rx.recv()).await {
                Ok(Some(item)) => item,
                Ok(None) => return,
                Err(_) => {
                    let mut queues = inner.queues.lock().unwrap_or_else(|e| e.into_inner());
                    queues.remove(&key);
                    drop(queues);
                    rx.close();
                    closing = true;
                    continue;
                }
            }
        };
        let mut jobs = Vec::with_capacity(inner.max_batch);
        let mut replies = Vec::with_capacity(inner.max_batch);
        jobs.push(first.0);
        replies.push(first.1);
        while jobs.len() < inner.max_batch {
            match rx.try_recv() {
                Ok((job, reply)) => {
                    jobs.push(job);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        let results = (inner.run)(key.clone(), jobs).await;
        for (result, reply) in results.into_iter().zip(replies) {
            // The requester may have gone (client hung up); the write stands either way.
            let _ = reply.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

    fn counting(batches: Arc<AtomicUsize>) -> Run<u8, u32, u32> {
        Arc::new(move |_key, jobs: Vec<u32>| {
            batches.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                jobs.into_iter().map(|j| j * 2).collect()
            })
        })
    }

    #[tokio::test]
    async fn jobs_waiting_together_are_written_in_one_batch_and_each_gets_its_own_answer()
    -> TestResult {
        let batches = Arc::new(AtomicUsize::new(0));
        let b = Batcher::new(100, Duration::from_secs(5), counting(batches.clone()));
        // The first job starts a batch alone; the 50 that queue behind it share the next.
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.submit(1, 1000).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let rest: Vec<_> = (0..50u32)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move { (i, b.submit(1, i).await) })
            })
            .collect();
        assert_eq!(first.await??, 2000);
        for r in rest {
            let (i, got) = r.await?;
            assert_eq!(got?, i * 2);
        }
        assert_eq!(batches.load(Ordering::SeqCst), 2);
        Ok(())
    }

    #[tokio::test]
    async fn an_idle_writer_stops_and_a_later_job_starts_a_new_one() -> TestResult {
        let batches = Arc::new(AtomicUsize::new(0));
        let b = Batcher::new(10, Duration::from_millis(30), counting(batches.clone()));
        assert_eq!(b.submit(7, 1).await?, 2);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(b.inner.queues.lock().is_ok_and(|q| q.is_empty()));
        assert_eq!(b.submit(7, 2).await?, 4);
        assert_eq!(batches.load(Ordering::SeqCst), 2);
        Ok(())
    }

    #[tokio::test]
    async fn a_writer_that_panics_answers_writer_gone_and_the_next_job_gets_a_new_writer()
    -> TestResult {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let run: Run<u8, u32, u32> = Arc::new(move |_key, jobs: Vec<u32>| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                assert!(n > 0, "first batch fails");
                jobs
            })
        });
        let b = Batcher::new(10, Duration::from_secs(5), run);
        assert!(b.submit(3, 1).await.is_err());
        assert_eq!(b.submit(3, 5).await?, 5);
        Ok(())
    }
}
