//! Operations that run to completion even when their caller stops waiting.
//!
//! A future dropped at an await (a timeout, a `select!` that picked another branch, a task
//! aborted) stops wherever it was. For the operations that change several things in turn (a
//! seal writes a trailer and then seals; a truncation deletes segments and then cuts the
//! tail) that would leave the log half changed, with a trailer in the middle of a segment or
//! no writer at all; a sync dropped while a backend's request is in flight leaves the backend
//! unsure whether it landed. So they run [to the end](to_the_end): in place while their caller
//! waits, and as a task of the runtime once it stops waiting. Backends can rely on it: the
//! engine never drops a sync or seal of a [`SegmentWriter`](crate::SegmentWriter) before it
//! answered.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::Handle;

use super::Wal;
use crate::error::Result;
use crate::store::SegmentStore;

impl<S: SegmentStore> Wal<S> {
    /// Runs `op` on a clone of this log [to the end](to_the_end).
    pub(super) async fn detached<T, Fut>(&self, op: impl FnOnce(Wal<S>) -> Fut) -> Result<T>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        to_the_end(op(self.clone()), drop).await
    }
}

/// Runs `fut` in place; if the caller drops it before it finished, the rest of it runs as a
/// task of the runtime it was first polled on, and `abandoned` gets its output. Costs nothing
/// but a box while the caller waits. A future never polled never starts; one first polled
/// outside a runtime is dropped with its caller, as any future is.
pub(crate) fn to_the_end<T, A>(
    fut: impl Future<Output = T> + Send + 'static,
    abandoned: A,
) -> impl Future<Output = T>
where
    T: Send + 'static,
    A: FnOnce(T) + Send + 'static,
{
    ToTheEnd {
        fut: Some(Box::pin(fut)),
        abandoned: Some(abandoned),
        rt: None,
    }
}

struct ToTheEnd<T: Send + 'static, A: FnOnce(T) + Send + 'static> {
    /// `None` once it finished.
    fut: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
    abandoned: Option<A>,
    /// The runtime of the first poll.
    rt: Option<Handle>,
}

// Nothing is pinned in place: the future is boxed, the rest is moved freely.
impl<T: Send + 'static, A: FnOnce(T) + Send + 'static> Unpin for ToTheEnd<T, A> {}

impl<T: Send + 'static, A: FnOnce(T) + Send + 'static> Future for ToTheEnd<T, A> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        if this.rt.is_none() {
            this.rt = Handle::try_current().ok();
        }
        let Some(fut) = this.fut.as_mut() else {
            // Polled after it answered: a contract breach of the caller, never of ours.
            return Poll::Pending;
        };
        let out = std::task::ready!(fut.as_mut().poll(cx));
        this.fut = None;
        Poll::Ready(out)
    }
}

impl<T: Send + 'static, A: FnOnce(T) + Send + 'static> Drop for ToTheEnd<T, A> {
    fn drop(&mut self) {
        // A panic while polling unwinds through here: the future is spent, not abandoned.
        if std::thread::panicking() {
            return;
        }
        if let (Some(fut), Some(rt), Some(abandoned)) =
            (self.fut.take(), self.rt.take(), self.abandoned.take())
        {
            rt.spawn(async move { abandoned(fut.await) });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::{oneshot, Notify};

    use super::to_the_end;

    #[tokio::test]
    async fn a_dropped_future_finishes_as_a_task() {
        let gate = Arc::new(Notify::new());
        let (tx, rx) = oneshot::channel();
        let g = Arc::clone(&gate);
        let fut = to_the_end(
            async move {
                g.notified().await;
                7
            },
            move |v| {
                let _ = tx.send(v);
            },
        );
        assert!(tokio::time::timeout(Duration::from_millis(5), fut)
            .await
            .is_err());
        gate.notify_one();
        let got = tokio::time::timeout(Duration::from_secs(5), rx).await;
        assert_eq!(got.unwrap().unwrap(), 7);
    }

    #[tokio::test]
    async fn an_awaited_future_answers_in_place() {
        let (tx, mut rx) = oneshot::channel::<u32>();
        let got = to_the_end(async { 3 }, move |v| {
            let _ = tx.send(v);
        })
        .await;
        assert_eq!(got, 3);
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err(), "an answered future was handed on");
    }
}
