//! The log's state (metadata and checkpoint) in the archive, so that a restored log has the
//! metadata and checkpoint of the log it was archived from.
//!
//! ```text
//! <prefix>/state/<version>    the state as a state slot's bytes (header, one meta frame,
//!                             checksummed), created once per version with PutMode::Create
//! ```
//!
//! [`Archiver::archive_state`] copies the state a log opens with (decided by
//! `wal_api::segment::read_state`, as recovery decides it); [`Archiver::archived_state`] reads
//! back the newest copy that checks out; [`Archiver::restore`] writes it into the restored
//! log's two state slots.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use wal_api::format::state::{LogState, STATE_SLOTS};
use wal_api::format::{new_salt, SegmentHeader};
use wal_api::segment::read_state;
use wal_api::{Error, Lsn, Result, SegmentStore};

use crate::io::{create_object, map_err, Created, Multipart};
use crate::keys::{pad, parse_pad};
use crate::Archiver;

impl Archiver {
    fn state_dir(&self) -> Path {
        self.root().clone().join("state")
    }

    /// Copies the state of the log in `src` to the archive (a no-op when this version is there
    /// already); returns it (`None` when the log never wrote one). Fails when the log's state is
    /// lost (both slots damaged) rather than archiving an empty one.
    pub async fn archive_state<S: SegmentStore + ?Sized>(
        &self,
        src: &S,
    ) -> Result<Option<LogState>> {
        let listed = src.list().await?;
        let state = read_state(src, &listed)
            .await?
            .map_err(|reason| Error::corrupt(STATE_SLOTS[0], 0, reason))?
            .state;
        if state.version == 0 {
            return Ok(None);
        }
        let h = SegmentHeader::new(STATE_SLOTS[0], Lsn::FIRST, new_salt());
        let bytes = Bytes::from(state.encode_slot(&h));
        let key = self.state_dir().join(pad(state.version));
        let multipart = Multipart {
            threshold: usize::MAX,
            part_size: crate::io::PART_SIZE,
        };
        // `Taken`: a copy of this version (written with another salt) is there already.
        let _: Created = create_object(self.store(), &key, bytes, multipart, || key.clone())
            .await
            .map_err(|e| map_err("archiving the log's state", None, e))?;
        tracing::info!(target: "wal::archive", version = state.version, "log state archived");
        Ok(Some(state))
    }

    /// The newest state in the archive that checks out, if any.
    pub async fn archived_state(&self) -> Result<Option<LogState>> {
        let dir = self.state_dir();
        let mut versions: Vec<u64> = self
            .store()
            .list(Some(&dir))
            .map_ok(|m| m.location)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| map_err("listing the archived state", None, e))?
            .into_iter()
            .filter_map(|p| p.filename().and_then(parse_pad))
            .collect();
        versions.sort_unstable();
        for v in versions.into_iter().rev() {
            let key = dir.clone().join(pad(v));
            let got = self
                .store()
                .get(&key)
                .await
                .map_err(|e| map_err("reading the archived state", None, e))?
                .bytes()
                .await
                .map_err(|e| map_err("reading the archived state", None, e))?;
            match LogState::decode_slot(STATE_SLOTS[0], &got) {
                Some(s) if s.version == v => return Ok(Some(s)),
                _ => {
                    tracing::warn!(target: "wal::archive", version = v, "skipping an archived state that does not check out");
                }
            }
        }
        Ok(None)
    }
}

/// Writes `state` into both state slots of `dst` (a restored log), as the engine writes them.
pub(crate) async fn write_slots<S: SegmentStore + ?Sized>(dst: &S, state: &LogState) -> Result<()> {
    wal_api::segment::write_state(dst, state, |id| {
        SegmentHeader::new(id, Lsn::FIRST, new_salt())
    })
    .await
}
