//! Group commit: many tasks hand in one item each; one task runs them as a
//! set and hands each its own answer. Nothing waits for a timer: a set is
//! whatever arrived while the previous one ran, so under light load each
//! item goes alone at once, and under heavy load sets grow by themselves.

use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

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
    /// which must answer with one output per input, in order.
    pub fn spawn<F, Fut>(max: usize, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<(I, Reply<O, E>)>();
        tokio::spawn(async move {
            let mut inputs = Vec::with_capacity(max);
            let mut replies = Vec::with_capacity(max);
            while let Some((input, reply)) = rx.recv().await {
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
                let count = inputs.len();
                match run(std::mem::take(&mut inputs)).await {
                    Ok(outputs) if outputs.len() == count => {
                        for (reply, output) in replies.drain(..).zip(outputs) {
                            let _ = reply.send(Ok(output));
                        }
                    }
                    Ok(_) => replies.clear(), // a broken `run`: every caller sees Stopped
                    Err(err) => {
                        let err = Arc::new(err);
                        for reply in replies.drain(..) {
                            let _ = reply.send(Err(BatchError::Failed(err.clone())));
                        }
                    }
                }
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
        let batcher = Arc::new(Batcher::spawn(64, move |items: Vec<u32>| {
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
    async fn a_failed_set_fails_each_of_its_callers() {
        let batcher = Batcher::spawn(8, |_items: Vec<u32>| async { Err::<Vec<u32>, _>(Odd) });
        assert!(matches!(batcher.call(1).await, Err(BatchError::Failed(_))));
    }
}
