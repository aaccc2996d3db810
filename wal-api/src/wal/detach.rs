//! Operations that run to completion even when their caller stops waiting.
//!
//! A future dropped at an await (a timeout, a `select!` that picked another branch, a task
//! aborted) stops wherever it was. For the operations that change several things in turn (a
//! seal writes a trailer and then seals; a truncation deletes segments and then cuts the
//! tail) that would leave the log half changed, with a trailer in the middle of a segment or
//! no writer at all. So they run as their own task: the caller that stops waiting drops only
//! its interest in the answer.

use std::future::Future;

use super::Wal;
use crate::error::{Error, Result};
use crate::store::SegmentStore;

impl<S: SegmentStore> Wal<S> {
    /// Runs `op` on a clone of this log as a task of the current runtime and waits for its
    /// answer (outside a runtime it runs in place). A panic in `op` resumes in the caller; a
    /// runtime shutting down under it reads as [`Error::Closed`].
    pub(super) async fn detached<T, Fut>(&self, op: impl FnOnce(Wal<S>) -> Fut) -> Result<T>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let fut = op(self.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => match rt.spawn(fut).await {
                Ok(r) => r,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Err(Error::Closed),
            },
            Err(_) => fut.await,
        }
    }
}
