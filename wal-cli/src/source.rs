//! Where a log is read from: a directory of segment files, or an object-store URL holding an
//! archive (written by `walctl archive`) or a log (written through `ObjectStoreSegments`).
//! Everything here only reads: no lock is taken, so it is safe next to a running writer.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use wal_api::format::state::is_state_slot;
use wal_api::{Error, SegmentId, SegmentStoreExt};
use wal_object::{open_url, Archiver, ObjectStoreSegments};

/// The segment files of a directory, in id order, plus the names that were ignored.
pub(crate) struct Listing {
    /// `(id, path)` of every file named like a segment.
    pub(crate) segments: Vec<(SegmentId, PathBuf)>,
    /// `(id, path)` of the log's state slots (metadata and checkpoint), not segments.
    pub(crate) slots: Vec<(SegmentId, PathBuf)>,
    /// Every other entry.
    pub(crate) ignored: Vec<String>,
    /// Entries named like a segment or state slot that are not regular files (a directory,
    /// FIFO, socket or symbolic link): the engine refuses to open a log holding one.
    pub(crate) refused: Vec<String>,
}

/// Lists `dir`: regular files named `<20 digits>.wal` are segments; everything else
/// (other names, directories, FIFOs, sockets) is ignored.
pub(crate) fn list_dir(dir: &Path) -> std::io::Result<Listing> {
    let mut segments = Vec::new();
    let mut slots = Vec::new();
    let mut ignored = Vec::new();
    let mut refused = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let parsed = wal_fs::parse_segment_file_name(&name);
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        match parsed {
            Some(_) if !regular => refused.push(format!(
                "{} has a segment file's name but is not a regular file (a directory, FIFO or \
                 symbolic link); the log never follows or reads it",
                entry.path().display()
            )),
            Some(id) if is_state_slot(id) => slots.push((id, entry.path())),
            Some(id) => segments.push((id, entry.path())),
            None => ignored.push(name),
        }
    }
    refused.sort();
    segments.sort();
    slots.sort();
    ignored.sort();
    Ok(Listing {
        segments,
        slots,
        ignored,
        refused,
    })
}

/// A log to inspect.
pub(crate) enum Source {
    /// Segment files in a directory.
    Dir(Listing),
    /// Segments archived by an [`Archiver`].
    Archive(Archiver),
    /// A log written on object storage, opened read-only.
    Log(ObjectStoreSegments, Vec<(SegmentId, u64)>),
}

impl Source {
    /// Opens `target` (a directory, or a URL with `://`). A target that holds no segment is
    /// an error: there is no log to inspect.
    pub(crate) async fn open(target: &str) -> Result<Source, String> {
        if !target.contains("://") {
            let listing = list_dir(Path::new(target)).map_err(|e| format!("{target}: {e}"))?;
            if listing.segments.is_empty() {
                return Err(format!(
                    "{target} holds no log: no segment files (named like {})",
                    wal_fs::segment_file_name(SegmentId(1))
                ));
            }
            return Ok(Source::Dir(listing));
        }
        if let Some(path) = target.strip_prefix("file://") {
            if !Path::new(path).is_dir() {
                return Err(format!("{target}: no such directory"));
            }
        }
        let (store, prefix) = open_url(target).map_err(|e| e.to_string())?;
        let archiver = Archiver::open(store.clone(), &prefix)
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        if !archiver.archived().is_empty() {
            return Ok(Source::Archive(archiver));
        }
        let log = ObjectStoreSegments::open_read_only(store, &prefix)
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        let metas = log
            .list_segments()
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        if metas.is_empty() {
            return Err(format!(
                "{target} holds no log: neither archived segments nor log segments"
            ));
        }
        let mut segs: Vec<_> = metas.into_iter().map(|m| (m.id, m.len)).collect();
        segs.sort();
        Ok(Source::Log(log, segs))
    }

    /// The segments, in id order.
    pub(crate) fn ids(&self) -> Vec<SegmentId> {
        match self {
            Source::Dir(l) => l.segments.iter().map(|s| s.0).collect(),
            Source::Archive(a) => a.archived().iter().map(|s| s.id).collect(),
            Source::Log(_, segs) => segs.iter().map(|s| s.0).collect(),
        }
    }

    /// The state slots (directories only).
    pub(crate) fn slots(&self) -> Vec<SegmentId> {
        match self {
            Source::Dir(l) => l.slots.iter().map(|s| s.0).collect(),
            _ => Vec::new(),
        }
    }

    /// Entries named like segments that the engine refuses (directories only).
    pub(crate) fn refused(&self) -> &[String] {
        match self {
            Source::Dir(l) => &l.refused,
            _ => &[],
        }
    }

    /// The engine opened in `mode` on a dry run of this log (see
    /// [`Dry`](crate::dryrun::Dry)): `None` for an archive, which is not a log the engine
    /// opens; the error is the engine's refusal.
    pub(crate) async fn open_dry(
        &self,
        mode: wal_api::RecoveryMode,
    ) -> Option<Result<crate::dryrun::Dry, Error>> {
        let base: std::sync::Arc<dyn wal_api::SegmentStore> = match self {
            Source::Dir(l) => {
                if let Some(bad) = l.refused.first() {
                    return Some(Err(Error::InvalidArgument(bad.clone())));
                }
                std::sync::Arc::new(crate::dryrun::DirReader::new(
                    l.segments.iter().chain(&l.slots).cloned(),
                ))
            }
            Source::Log(log, _) => std::sync::Arc::new(log.clone()),
            Source::Archive(_) => return None,
        };
        Some(crate::dryrun::open_dry(base, mode).await)
    }

    /// Entries that are not segments (directories only).
    pub(crate) fn ignored(&self) -> &[String] {
        match self {
            Source::Dir(l) => &l.ignored,
            _ => &[],
        }
    }

    /// The listed size of segment `id`, when known.
    pub(crate) fn len(&self, id: SegmentId) -> Option<u64> {
        match self {
            Source::Dir(l) => l
                .segments
                .iter()
                .find(|s| s.0 == id)
                .and_then(|(_, p)| std::fs::metadata(p).ok())
                .map(|m| m.len()),
            Source::Archive(a) => a.get(id).map(|s| s.len),
            Source::Log(_, segs) => segs.iter().find(|s| s.0 == id).map(|s| s.1),
        }
    }

    /// The listed size of every segment, summed (for progress bars).
    pub(crate) fn total_bytes(&self) -> u64 {
        match self {
            Source::Dir(l) => l
                .segments
                .iter()
                .filter_map(|(_, p)| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum(),
            Source::Archive(a) => a.archived().iter().map(|s| s.len).sum(),
            Source::Log(_, segs) => segs.iter().map(|s| s.1).sum(),
        }
    }

    /// What state slot `id` holds, read in bounded memory with the engine's own reader
    /// (directories only).
    pub(crate) async fn slot(
        &self,
        id: SegmentId,
    ) -> Result<wal_api::format::state::SlotRead, Error> {
        use wal_api::SegmentStore;
        let Source::Dir(l) = self else {
            return Ok(wal_api::format::state::SlotRead::Absent);
        };
        let reader = crate::dryrun::DirReader::new(l.slots.iter().filter(|s| s.0 == id).cloned());
        let listed = reader.list().await?;
        wal_api::segment::read_slot(&reader, listed.first()).await
    }

    /// The bytes of segment `id`. An archived copy is checked against its manifest entry.
    pub(crate) async fn bytes(&self, id: SegmentId) -> Result<Bytes, Error> {
        match self {
            Source::Dir(l) => {
                let path = l
                    .segments
                    .iter()
                    .chain(&l.slots)
                    .find(|s| s.0 == id)
                    .map(|s| s.1.clone())
                    .ok_or(Error::NotFound { segment: id })?;
                let f = open_regular(&path).map_err(|e| Error::io("opening", Some(id), e))?;
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut &f, &mut buf)
                    .map_err(|e| Error::io("reading", Some(id), e))?;
                Ok(Bytes::from(buf))
            }
            Source::Archive(a) => a.fetch(id).await,
            Source::Log(log, _) => log.read_all(id).await,
        }
    }
}

/// Opens `path` for reading without blocking (a FIFO put in place of a segment would
/// block a plain open until a writer appears) and refuses anything but a regular file.
pub(crate) fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}
