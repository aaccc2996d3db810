//! A typed view of a log: [`TypedWal`] encodes values into records through a [`Codec`] and
//! decodes them on the way out.
//!
//! ```
//! # #[cfg(feature = "bincode")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use futures::StreamExt;
//! use serde::{Deserialize, Serialize};
//! use wal_api::{Lsn, TypedWal, WalOptions};
//! use wal_memory::MemoryStore;
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! enum Op {
//!     Put { key: String, value: u64 },
//!     Delete { key: String },
//! }
//!
//! // The codec parameter defaults to `BincodeCodec`.
//! let log: TypedWal<Op, _> = TypedWal::open(MemoryStore::new(), WalOptions::default()).await?;
//! let lsn = log.append(&Op::Put { key: "a".into(), value: 1 }).await?;
//! log.append_batch(&[
//!     Op::Put { key: "b".into(), value: 2 },
//!     Op::Delete { key: "a".into() },
//! ])
//! .await?;
//!
//! assert_eq!(log.get(lsn).await?, Some(Op::Put { key: "a".into(), value: 1 }));
//! assert_eq!(log.last().await?, Some((Lsn(3), Op::Delete { key: "a".into() })));
//!
//! let ops: Vec<(Lsn, Op)> = log.read(Lsn(2)..).map(|r| r.unwrap()).collect().await;
//! assert_eq!(ops.len(), 2);
//!
//! let mut keys = Vec::new();
//! log.replay(.., |_lsn, op| {
//!     if let Op::Put { key, .. } = op {
//!         keys.push(key);
//!     }
//! })
//! .await?;
//! assert_eq!(keys, ["a", "b"]);
//! # Ok::<(), wal_api::Error>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::ops::RangeBounds;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::lsn::Lsn;
use crate::options::WalOptions;
use crate::store::SegmentStore;
use crate::wal::{LsnRange, Record, Ticket, Wal};

/// A stream of decoded records (or one error, after which it ends).
pub type TypedStream<T> = Pin<Box<dyn Stream<Item = Result<(Lsn, T)>> + Send + 'static>>;

/// Declares [`TypedWal`] once with the documentation shared by both forms of its codec
/// parameter.
macro_rules! typed_wal {
    ($($codec:tt)*) => {
        /// A typed view of a [`Wal`]: values of `T` go in, the codec `C` turns them into record
        /// bytes and back.
        ///
        /// The codec defaults to `BincodeCodec` when the `bincode` feature (on by default) is
        /// enabled; without it, name the codec (`TypedWal<T, S, PostcardCodec>`, or your own
        /// [`Codec`]). A log written with one codec must be read with the same one.
        ///
        /// It is cheap to clone (clones share the log); [`wal`](Self::wal) gives the untyped
        /// log for everything else (sync, truncation, close).
        pub struct TypedWal<T, S: SegmentStore, $($codec)*> {
            wal: Wal<S>,
            codec: Arc<C>,
            _values: PhantomData<fn(T) -> T>,
        }
    };
}

#[cfg(feature = "bincode")]
typed_wal!(C = crate::codec::BincodeCodec);
#[cfg(not(feature = "bincode"))]
typed_wal!(C);

impl<T, S: SegmentStore, C> Clone for TypedWal<T, S, C> {
    fn clone(&self) -> Self {
        TypedWal {
            wal: self.wal.clone(),
            codec: self.codec.clone(),
            _values: PhantomData,
        }
    }
}

impl<T, S: SegmentStore, C> fmt::Debug for TypedWal<T, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedWal")
            .field("wal", &self.wal)
            .field("type", &std::any::type_name::<T>())
            .field("codec", &std::any::type_name::<C>())
            .finish()
    }
}

impl<T, S, C> TypedWal<T, S, C>
where
    T: Send + 'static,
    S: SegmentStore,
    C: Codec<T> + 'static,
{
    /// A typed view of `wal` through `codec`.
    pub fn with_codec(wal: Wal<S>, codec: C) -> Self {
        TypedWal {
            wal,
            codec: Arc::new(codec),
            _values: PhantomData,
        }
    }

    /// A typed view of `wal` through the codec's default value.
    pub fn new(wal: Wal<S>) -> Self
    where
        C: Default,
    {
        Self::with_codec(wal, C::default())
    }

    /// Opens the log held by `store` (see [`Wal::open`]) and views it through the codec's
    /// default value.
    pub async fn open(store: S, opts: WalOptions) -> Result<Self>
    where
        C: Default,
    {
        Ok(Self::new(Wal::open(store, opts).await?))
    }

    /// Opens the log held by `store` and replays its values from `from` on in one pass (see
    /// [`Wal::open_replay`]), viewed through the codec's default value: the same values, in
    /// the same order, as [`open`](Self::open) followed by [`try_replay(from..)`](Self::try_replay).
    /// A record that does not decode, or the first error of `apply`, ends the open with that
    /// error. Returns the log and the number of values applied.
    pub async fn open_replay<F>(
        store: S,
        opts: WalOptions,
        from: Lsn,
        mut apply: F,
    ) -> Result<(Self, u64)>
    where
        C: Default,
        F: FnMut(Lsn, T) -> Result<()> + Send,
    {
        let codec = C::default();
        let (wal, applied) = Wal::open_replay(store, opts, from, |lsn, bytes| {
            let v = codec.decode(bytes).map_err(|e| at_lsn(lsn, e))?;
            apply(lsn, v)
        })
        .await?;
        Ok((Self::with_codec(wal, codec), applied))
    }

    /// The untyped log.
    pub fn wal(&self) -> &Wal<S> {
        &self.wal
    }

    /// The untyped log, giving up the typed view.
    pub fn into_inner(self) -> Wal<S> {
        self.wal
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    fn encode(&self, value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.codec.encode(value, &mut out)?;
        Ok(out)
    }

    /// Appends one value; returns its LSN when acknowledged (see [`Wal::append`]).
    pub async fn append(&self, value: &T) -> Result<Lsn> {
        let bytes = self.encode(value)?;
        self.wal.append(&bytes).await
    }

    /// Appends values as one atomic batch (see [`Wal::append_batch`]).
    pub async fn append_batch(&self, values: &[T]) -> Result<LsnRange> {
        let encoded = values
            .iter()
            .map(|v| self.encode(v))
            .collect::<Result<Vec<_>>>()?;
        self.wal.append_batch(&encoded).await
    }

    /// Appends one value without waiting for durability (see [`Wal::enqueue`]).
    pub async fn enqueue(&self, value: &T) -> Result<Ticket> {
        let bytes = self.encode(value)?;
        self.wal.enqueue(&bytes).await
    }

    /// Streams the decoded values of `range` (see [`Wal::read`]). A record that does not
    /// decode ends the stream with [`Error::Codec`] naming its LSN.
    pub fn read(&self, range: impl RangeBounds<Lsn>) -> TypedStream<T> {
        decode_stream(self.wal.read(range), self.codec.clone())
    }

    /// A live stream of decoded values from `from` on (see [`Wal::tail`]).
    pub fn tail(&self, from: Lsn) -> TypedStream<T> {
        decode_stream(self.wal.tail(from), self.codec.clone())
    }

    /// Replays the values of `range` in LSN order, calling `apply(lsn, value)` for each (see
    /// [`Wal::replay`]). Stops at the first record that does not decode. Returns the number
    /// of values applied.
    pub async fn replay<F>(&self, range: impl RangeBounds<Lsn>, mut apply: F) -> Result<u64>
    where
        F: FnMut(Lsn, T) + Send,
    {
        self.try_replay(range, |lsn, v| {
            apply(lsn, v);
            Ok(())
        })
        .await
    }

    /// Like [`replay`](Self::replay) with a fallible `apply`: its first error stops the
    /// replay and is returned.
    pub async fn try_replay<F>(&self, range: impl RangeBounds<Lsn>, mut apply: F) -> Result<u64>
    where
        F: FnMut(Lsn, T) -> Result<()> + Send,
    {
        let codec = &*self.codec;
        self.wal
            .replay(range, |lsn, bytes| {
                let v = codec.decode(bytes).map_err(|e| at_lsn(lsn, e))?;
                apply(lsn, v)
            })
            .await
    }

    /// The value at `lsn` (see [`Wal::get`]): `None` past the visible end,
    /// [`Error::Trimmed`] below the first LSN held.
    pub async fn get(&self, lsn: Lsn) -> Result<Option<T>> {
        match self.wal.get(lsn).await? {
            Some(r) => Ok(Some(decode(&*self.codec, &r)?.1)),
            None => Ok(None),
        }
    }

    /// The newest visible value and its LSN (see [`Wal::last`]).
    pub async fn last(&self) -> Result<Option<(Lsn, T)>> {
        match self.wal.last().await? {
            Some(r) => Ok(Some(decode(&*self.codec, &r)?)),
            None => Ok(None),
        }
    }
}

impl<T, S, C> From<Wal<S>> for TypedWal<T, S, C>
where
    T: Send + 'static,
    S: SegmentStore,
    C: Codec<T> + Default + 'static,
{
    fn from(wal: Wal<S>) -> Self {
        TypedWal::new(wal)
    }
}

/// Names the LSN of a record that failed to decode.
fn at_lsn(lsn: Lsn, e: Error) -> Error {
    match e {
        Error::Codec { source, .. } => Error::Codec {
            lsn: Some(lsn),
            source,
        },
        other => other,
    }
}

fn decode<T, C: Codec<T> + ?Sized>(codec: &C, r: &Record) -> Result<(Lsn, T)> {
    let v = codec.decode(&r.data).map_err(|e| at_lsn(r.lsn, e))?;
    Ok((r.lsn, v))
}

fn decode_stream<T, C>(records: crate::wal::RecordStream, codec: Arc<C>) -> TypedStream<T>
where
    T: Send + 'static,
    C: Codec<T> + 'static,
{
    // One error ends the stream, a decoding error as much as a read error.
    Box::pin(futures::stream::unfold(
        Some((records, codec)),
        |state| async move {
            let (mut records, codec) = state?;
            let item = records.next().await?.and_then(|r| decode(&*codec, &r));
            let next = item.is_ok().then_some((records, codec));
            Some((item, next))
        },
    ))
}
