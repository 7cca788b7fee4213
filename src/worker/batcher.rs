//! Group commit: many tasks hand in one item each; one task runs them as a
//! set and hands each its own answer. Nothing waits for a timer: a set is
//! whatever arrived while the running sets ran, so under light load each
//! item goes alone at once, and under heavy load sets grow by themselves.

use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The error of a whole set, shared by every item in it.
#[derive(Debug, thiserror::Error)]
pub enum BatchError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Failed(Arc<E>),
    #[error("the batcher stopped")]
    Stopped,
}

type Reply<O, E> = oneshot::Sender<Result<O, BatchError<E>>>;

pub struct Batcher<I, O, E: std::error::Error + 'static> {
    tx: mpsc::UnboundedSender<(I, Reply<O, E>)>,
}

impl<I, O, E> Batcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    /// Starts the task that runs sets of at most `max` items through `run`,
    /// at most `parallel` sets at once; `run` must answer with one output
    /// per input, in order.
    pub fn spawn<F, Fut>(max: usize, parallel: usize, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
    {
        Self::spawn_sharing(max, Arc::new(Semaphore::new(parallel.max(1))), run)
    }

    /// Like [`Batcher::spawn`], with the sets in flight bounded by `slots`,
    /// which other batchers may share.
    pub fn spawn_sharing<F, Fut>(max: usize, slots: Arc<Semaphore>, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<(I, Reply<O, E>)>();
        let run = Arc::new(run);
        tokio::spawn(async move {
            loop {
                // An item, then a slot (never held idle, as slots may be
                // shared): while every set is running, items pile up in the
                // channel and make the next set larger.
                let Some((input, reply)) = rx.recv().await else {
                    return;
                };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let mut inputs = Vec::with_capacity(max);
                let mut replies = Vec::with_capacity(max);
                inputs.push(input);
                replies.push(reply);
                while inputs.len() < max {
                    match rx.try_recv() {
                        Ok((input, reply)) => {
                            inputs.push(input);
                            replies.push(reply);
                        }
                        Err(_) => break,
                    }
                }
                let run = run.clone();
                tokio::spawn(async move {
                    answer(run(inputs).await, replies);
                    drop(slot);
                });
            }
        });
        Batcher { tx }
    }

    /// Hands in one item and waits for its answer.
    pub async fn call(&self, input: I) -> Result<O, BatchError<E>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((input, reply))
            .map_err(|_| BatchError::Stopped)?;
        answer.await.map_err(|_| BatchError::Stopped)?
    }
}

fn answer<O, E: std::error::Error>(result: Result<Vec<O>, E>, replies: Vec<Reply<O, E>>) {
    match result {
        Ok(outputs) if outputs.len() == replies.len() => {
            for (reply, output) in replies.into_iter().zip(outputs) {
                let _ = reply.send(Ok(output));
            }
        }
        Ok(_) => {} // a broken `run`: every caller sees Stopped
        Err(err) => {
            let err = Arc::new(err);
            for reply in replies {
                let _ = reply.send(Err(BatchError::Failed(err.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, thiserror::Error)]
    #[error("odd set")]
    struct Odd;

    #[tokio::test]
    async fn each_caller_gets_its_own_answer_and_sets_form_under_load() {
        let sets = Arc::new(AtomicUsize::new(0));
        let counter = sets.clone();
        let batcher = Arc::new(Batcher::spawn(64, 2, move |items: Vec<u32>| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::task::yield_now().await;
                Ok::<_, Odd>(items.into_iter().map(|i| i * 10).collect())
            }
        }));
        let calls: Vec<_> = (0..500u32)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (i, batcher.call(i).await) })
            })
            .collect();
        for call in calls {
            let (i, answer) = call.await.expect("task");
            assert_eq!(answer.expect("answer"), i * 10);
        }
        assert!(sets.load(Ordering::Relaxed) < 500, "items were grouped");
    }

    #[tokio::test]
    async fn batchers_sharing_one_slot_both_make_progress() {
        // A batcher waiting for its first item must not hold the slot.
        let slots = Arc::new(Semaphore::new(1));
        let first = Batcher::spawn_sharing(8, slots.clone(), |items: Vec<u32>| async move {
            Ok::<_, Odd>(items)
        });
        let second = Batcher::spawn_sharing(8, slots, |items: Vec<u32>| async move {
            Ok::<_, Odd>(items.into_iter().map(|i| i + 1).collect())
        });
        let answered = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            (first.call(1).await.ok(), second.call(1).await.ok())
        })
        .await;
        assert_eq!(answered.ok(), Some((Some(1), Some(2))));
    }

    #[tokio::test]
    async fn a_failed_set_fails_each_of_its_callers() {
        let batcher = Batcher::spawn(8, 2, |_items: Vec<u32>| async { Err::<Vec<u32>, _>(Odd) });
        assert!(matches!(batcher.call(1).await, Err(BatchError::Failed(_))));
    }
}
