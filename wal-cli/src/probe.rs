//! `walctl probe`: checks what the log relies on from its storage. For a directory: that
//! `fdatasync` takes the time a real flush takes (one far faster than any disk means a
//! volatile write cache acknowledges it, and power loss can take synced records), that an
//! exclusive create of an existing file is refused, and that a new file is listed at once.
//! For an object-store URL: that a conditional create (`PutMode::Create`) of an existing
//! object is refused, that copy-if-not-exists refuses an existing destination, and that a
//! new object is listed right after it is written.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use wal_object::object_store::path::Path as Key;
use wal_object::object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};

use crate::Outcome;

/// A median fdatasync faster than this is not a flush to stable storage.
const VOLATILE_BELOW: Duration = Duration::from_micros(20);
/// fdatasyncs timed.
const SAMPLES: usize = 64;

/// The verdicts so far; any failed check makes the run exit 1.
#[derive(Default)]
struct Checks {
    failed: usize,
}

impl Checks {
    fn report(&mut self, ok: bool, what: &str) {
        if ok {
            println!("ok:   {what}");
        } else {
            self.failed += 1;
            println!("FAIL: {what}");
        }
    }

    fn outcome(&self) -> Outcome {
        if self.failed == 0 {
            println!("all checks passed");
            Outcome::Clean
        } else {
            println!("{} checks failed", self.failed);
            Outcome::Problem
        }
    }
}

/// The probe's own scratch directory, made with an exclusive `mkdir` under the probed
/// directory (an existing entry of any kind at the name, a symbolic link included, is never
/// followed: another name is tried). Every file the probe writes lives inside it, and only it
/// and what the probe put there are removed, however the run ends.
struct Scratch {
    dir: std::path::PathBuf,
    files: Vec<std::path::PathBuf>,
}

impl Scratch {
    fn new(parent: &Path) -> std::io::Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0u32..64 {
            let name = format!("walctl-probe-{}-{nanos:x}-{attempt}", std::process::id());
            let dir = parent.join(name);
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    return Ok(Scratch {
                        dir,
                        files: Vec::new(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(
            "no free name for the probe's scratch directory",
        ))
    }

    /// Creates `name` in the scratch directory exclusively and remembers it for removal.
    fn create(&mut self, name: &str) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
        let path = self.dir.join(name);
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        self.files.push(path.clone());
        Ok((path, f))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for p in &self.files {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Median time of `SAMPLES` 4 KiB writes each followed by `fdatasync`.
fn fdatasync_median(f: &std::fs::File) -> std::io::Result<Duration> {
    let block = [0x5au8; 4096];
    f.write_all_at(&vec![0u8; 4096 * SAMPLES], 0)?;
    f.sync_all()?;
    let mut lat = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let t = Instant::now();
        f.write_all_at(&block, (i * 4096) as u64)?;
        f.sync_data()?;
        lat.push(t.elapsed());
    }
    lat.sort();
    Ok(lat[SAMPLES / 2])
}

/// Probes a directory.
pub(crate) fn probe_dir(dir: &str) -> Result<Outcome, String> {
    if !Path::new(dir).is_dir() {
        return Err(format!("{dir}: no such directory"));
    }
    let mut scratch = Scratch::new(Path::new(dir))
        .map_err(|e| format!("{dir}: creating the probe's scratch directory: {e}"))?;
    let mut checks = Checks::default();
    let (base, f) = scratch
        .create("sync")
        .map_err(|e| format!("{}: {e}", scratch.dir.display()))?;
    let median = fdatasync_median(&f).map_err(|e| format!("timing fdatasync: {e}"))?;
    checks.report(
        median >= VOLATILE_BELOW,
        &format!(
            "fdatasync of a 4 KiB write: median {:.1} µs over {SAMPLES}{}",
            median.as_secs_f64() * 1e6,
            if median < VOLATILE_BELOW {
                " (faster than any flush to stable storage: a volatile cache or a file \
                 system that ignores fsync, such as tmpfs; power loss can take synced records)"
            } else {
                ""
            }
        ),
    );
    let again = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&base);
    checks.report(
        again
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists),
        "exclusive create of an existing file is refused",
    );
    let other = scratch
        .create("listed")
        .and_then(|(p, mut o)| std::io::Write::write_all(&mut o, b"probe").map(|()| p))
        .map_err(|e| format!("{}: {e}", scratch.dir.display()))?;
    let listed = std::fs::read_dir(&scratch.dir)
        .map_err(|e| format!("{}: {e}", scratch.dir.display()))?
        .filter_map(|e| e.ok())
        .any(|e| e.path() == other);
    checks.report(listed, "a new file is listed right after it is written");
    Ok(checks.outcome())
}

/// Probes the object store a URL names, under a fresh key prefix it removes afterwards.
pub(crate) async fn probe_url(url: &str) -> Result<Outcome, String> {
    let (store, prefix) = wal_object::open_url(url).map_err(|e| e.to_string())?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let root =
        Key::from(prefix.as_str()).join(format!("walctl-probe-{}-{nanos}", std::process::id()));
    let (a, b) = (root.clone().join("a"), root.clone().join("b"));
    let mut checks = Checks::default();
    let result = probe_objects(store.as_ref(), &root, &a, &b, &mut checks).await;
    for k in [&a, &b] {
        let _ = store.delete(k).await;
    }
    // A local directory keeps the probe's folder once its objects are gone.
    if let Some(dir) = url.strip_prefix("file://") {
        let _ = std::fs::remove_dir(Path::new(dir).join(root.as_ref()));
    }
    result?;
    Ok(checks.outcome())
}

async fn probe_objects(
    store: &dyn ObjectStore,
    root: &Key,
    a: &Key,
    b: &Key,
    checks: &mut Checks,
) -> Result<(), String> {
    let payload = || PutPayload::from_static(b"walctl probe");
    store
        .put_opts(a, payload(), PutMode::Create.into())
        .await
        .map_err(|e| format!("conditional create of a new object failed: {e}"))?;
    let again = store.put_opts(a, payload(), PutMode::Create.into()).await;
    checks.report(
        matches!(
            again,
            Err(wal_object::object_store::Error::AlreadyExists { .. })
        ),
        &match &again {
            Ok(_) => {
                "conditional create of an existing object is refused (it overwrote it)".to_string()
            }
            Err(wal_object::object_store::Error::AlreadyExists { .. }) => {
                "conditional create of an existing object is refused".to_string()
            }
            Err(e) => format!("conditional create of an existing object is refused ({e})"),
        },
    );
    let first = store.copy_if_not_exists(a, b).await;
    let second = store.copy_if_not_exists(a, b).await;
    let refused = matches!(
        second,
        Err(wal_object::object_store::Error::AlreadyExists { .. })
    );
    checks.report(
        first.is_ok() && refused,
        &match (&first, &second) {
            (Err(e), _) => format!("copy-if-not-exists works ({e})"),
            (Ok(()), Ok(())) => "copy-if-not-exists refuses an existing destination (it \
                                 overwrote it)"
                .to_string(),
            _ => "copy-if-not-exists refuses an existing destination".to_string(),
        },
    );
    let listed: Vec<_> = store
        .list(Some(root))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .map_err(|e| format!("listing: {e}"))?;
    checks.report(
        listed.contains(a),
        "a new object is listed right after it is written",
    );
    Ok(())
}
