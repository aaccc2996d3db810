//! [`FailingObjectStore`]: an `ObjectStore` wrapper that injects seeded faults, for testing
//! code that must stay correct when object storage misbehaves (feature `testing` only).

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

/// Which faults to inject and how often. Rates are per mille (0..=1000) per operation.
#[derive(Clone, Debug, Default)]
pub struct FaultConfig {
    /// Seed of the fault schedule: the same seed and the same sequence of calls give the
    /// same faults.
    pub seed: u64,
    /// The request fails before reaching the store (a 503, a reset connection).
    pub fail_before: u32,
    /// The write lands, then the client sees a timeout (the outcome is ambiguous).
    pub fail_after: u32,
    /// A conditional create lands, the client retries and sees `AlreadyExists`.
    pub already_exists_after_retry: u32,
    /// A multipart upload dies part-way (a part or the completion fails, the upload is
    /// abandoned, as when the process crashes).
    pub multipart_crash: u32,
    /// A write lands with one byte flipped and reports success (silent corruption).
    pub corrupt_write: u32,
    /// Every listing waits this long first.
    pub slow_list: Option<Duration>,
    /// Up to this many task yields before and after every operation (varies interleavings).
    pub jitter_yields: u32,
}

/// Counts of what a [`FailingObjectStore`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Operations seen.
    pub ops: u64,
    /// Requests failed before reaching the store.
    pub failed_before: u64,
    /// Writes that landed but reported a timeout.
    pub failed_after: u64,
    /// Creates that landed but reported `AlreadyExists`.
    pub already_exists: u64,
    /// Multipart uploads abandoned part-way.
    pub multipart_crashes: u64,
    /// Writes that landed corrupted.
    pub corrupted: u64,
    /// Listings slowed down.
    pub slow_lists: u64,
}

impl FaultStats {
    /// Faults injected in total.
    pub fn faults(&self) -> u64 {
        self.failed_before
            + self.failed_after
            + self.already_exists
            + self.multipart_crashes
            + self.corrupted
    }
}

#[derive(Debug)]
struct State {
    rng: u64,
    stats: FaultStats,
    enabled: bool,
}

/// Wraps any object store and fails its operations on a seeded schedule: errors and 503s
/// before a request lands, timeouts and `AlreadyExists` after it landed, multipart uploads
/// that die part-way, silently corrupted writes, slow listings, and scheduling jitter.
///
/// Test support: only with the `testing` feature.
#[derive(Clone)]
pub struct FailingObjectStore {
    inner: Arc<dyn ObjectStore>,
    cfg: FaultConfig,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for FailingObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailingObjectStore")
            .field("inner", &self.inner.to_string())
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl fmt::Display for FailingObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailingObjectStore({})", self.inner)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    Before,
    After,
    Exists,
    Corrupt,
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FailingObjectStore",
        source: format!("injected fault: {what}").into(),
    }
}

impl FailingObjectStore {
    /// Wraps `inner`; faults are on from the start.
    pub fn new(inner: Arc<dyn ObjectStore>, cfg: FaultConfig) -> FailingObjectStore {
        let seed = cfg.seed;
        FailingObjectStore {
            inner,
            cfg,
            state: Arc::new(Mutex::new(State {
                rng: seed ^ 0x9E37_79B9_7F4A_7C15,
                stats: FaultStats::default(),
                enabled: true,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Turns fault injection on or off (jitter and slow listings stay).
    pub fn set_enabled(&self, on: bool) {
        self.lock().enabled = on;
    }

    /// What was injected so far.
    pub fn stats(&self) -> FaultStats {
        self.lock().stats
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    fn next(st: &mut State) -> u64 {
        // SplitMix64.
        st.rng = st.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = st.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn roll(st: &mut State, per_mille: u32) -> bool {
        per_mille > 0 && Self::next(st) % 1000 < u64::from(per_mille)
    }

    /// Decides the fault of one operation.
    fn decide(&self, write: bool, create: bool) -> Fault {
        let mut st = self.lock();
        st.stats.ops += 1;
        if !st.enabled {
            return Fault::None;
        }
        let c = &self.cfg;
        let f = if Self::roll(&mut st, c.fail_before) {
            Fault::Before
        } else if write && Self::roll(&mut st, c.fail_after) {
            Fault::After
        } else if create && Self::roll(&mut st, c.already_exists_after_retry) {
            Fault::Exists
        } else if write && Self::roll(&mut st, c.corrupt_write) {
            Fault::Corrupt
        } else {
            Fault::None
        };
        match f {
            Fault::Before => st.stats.failed_before += 1,
            Fault::After => st.stats.failed_after += 1,
            Fault::Exists => st.stats.already_exists += 1,
            Fault::Corrupt => st.stats.corrupted += 1,
            Fault::None => {}
        }
        f
    }

    fn multipart_crash(&self) -> bool {
        let mut st = self.lock();
        if !st.enabled {
            return false;
        }
        let hit = Self::roll(&mut st, self.cfg.multipart_crash);
        if hit {
            st.stats.multipart_crashes += 1;
        }
        hit
    }

    async fn jitter(&self) {
        if self.cfg.jitter_yields == 0 {
            return;
        }
        let n = {
            let mut st = self.lock();
            Self::next(&mut st) % (u64::from(self.cfg.jitter_yields) + 1)
        };
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    }

    async fn slow_list(&self) {
        if let Some(d) = self.cfg.slow_list {
            self.lock().stats.slow_lists += 1;
            tokio::time::sleep(d).await;
        }
    }
}

fn corrupt(payload: PutPayload, salt: u64) -> PutPayload {
    let mut v: Vec<u8> = Vec::with_capacity(payload.content_length());
    for b in payload.iter() {
        v.extend_from_slice(b);
    }
    if !v.is_empty() {
        let i = (salt as usize) % v.len();
        v[i] ^= 0x20;
    }
    PutPayload::from(Bytes::from(v))
}

#[async_trait]
impl ObjectStore for FailingObjectStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.jitter().await;
        let create = matches!(opts.mode, PutMode::Create);
        let fault = self.decide(true, create);
        let r = match fault {
            Fault::Before => Err(injected("503 Service Unavailable before the put landed")),
            Fault::After => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(injected("timeout after the put landed"))
            }
            Fault::Exists => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(object_store::Error::AlreadyExists {
                    path: location.to_string(),
                    source: "injected fault: retried create found its own object".into(),
                })
            }
            Fault::Corrupt => {
                let salt = {
                    let mut st = self.lock();
                    Self::next(&mut st)
                };
                self.inner
                    .put_opts(location, corrupt(payload, salt), opts)
                    .await
            }
            Fault::None => self.inner.put_opts(location, payload, opts).await,
        };
        self.jitter().await;
        r
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.jitter().await;
        if self.decide(false, false) == Fault::Before {
            return Err(injected(
                "503 Service Unavailable when starting a multipart upload",
            ));
        }
        let up = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FailingUpload {
            store: self.clone(),
            inner: up,
            crashed: false,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.jitter().await;
        if self.decide(false, false) == Fault::Before {
            return Err(injected("503 Service Unavailable on get"));
        }
        let r = self.inner.get_opts(location, options).await;
        self.jitter().await;
        r
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.jitter().await;
        if self.decide(false, false) == Fault::Before {
            return Err(injected("503 Service Unavailable on get"));
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let this = self.clone();
        locations
            .then(move |loc| {
                let this = this.clone();
                async move {
                    let loc = loc?;
                    this.jitter().await;
                    let fault = this.decide(true, false);
                    if fault == Fault::Before {
                        return Err(injected("503 Service Unavailable on delete"));
                    }
                    let one = futures::stream::iter([Ok(loc.clone())]).boxed();
                    let mut s = this.inner.delete_stream(one);
                    while let Some(r) = s.next().await {
                        r?;
                    }
                    if fault == Fault::After {
                        return Err(injected("timeout after the delete landed"));
                    }
                    Ok(loc)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let this = self.clone();
        let prefix = prefix.cloned();
        async move {
            this.slow_list().await;
            this.jitter().await;
            if this.decide(false, false) == Fault::Before {
                return futures::stream::iter([Err(injected("503 Service Unavailable on list"))])
                    .boxed();
            }
            this.inner.list(prefix.as_ref())
        }
        .flatten_stream()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.slow_list().await;
        self.jitter().await;
        if self.decide(false, false) == Fault::Before {
            return Err(injected("503 Service Unavailable on list"));
        }
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.jitter().await;
        let create = matches!(options.mode, CopyMode::Create);
        match self.decide(true, create) {
            Fault::Before => Err(injected("503 Service Unavailable before the copy landed")),
            Fault::After => {
                self.inner.copy_opts(from, to, options).await?;
                Err(injected("timeout after the copy landed"))
            }
            Fault::Exists => {
                self.inner.copy_opts(from, to, options).await?;
                Err(object_store::Error::AlreadyExists {
                    path: to.to_string(),
                    source: "injected fault: retried copy found its own object".into(),
                })
            }
            Fault::Corrupt | Fault::None => self.inner.copy_opts(from, to, options).await,
        }
    }
}

/// A multipart upload that may die part-way.
struct FailingUpload {
    store: FailingObjectStore,
    inner: Box<dyn MultipartUpload>,
    crashed: bool,
}

impl fmt::Debug for FailingUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailingUpload")
            .field("crashed", &self.crashed)
            .finish()
    }
}

#[async_trait]
impl MultipartUpload for FailingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        if self.crashed || self.store.multipart_crash() {
            self.crashed = true;
            return async { Err(injected("multipart upload died part-way")) }.boxed();
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        if self.crashed || self.store.multipart_crash() {
            // Dies before completing: the upload is abandoned, never aborted.
            self.crashed = true;
            return Err(injected(
                "process died before completing the multipart upload",
            ));
        }
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        if self.crashed {
            return Err(injected("a dead process aborts nothing"));
        }
        self.inner.abort().await
    }
}
