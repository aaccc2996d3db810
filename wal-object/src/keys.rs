//! Object key layout under a prefix. Every name is generated zero-padded and parsed strictly;
//! anything else under the prefix is ignored.
//!
//! ```text
//! <prefix>/epoch/<epoch>                 one object per writer that opened the prefix
//! <prefix>/chunks/<segment>/<seq>        the bytes one sync made durable (unsealed segments)
//! <prefix>/segments/<segment>/<epoch>    a sealed segment, whole
//! <prefix>/quarantine/<segment>/<epoch>-<unique>   segments moved aside by recovery
//! <prefix>/tmp/...                       multipart uploads before they are published
//! ```

use object_store::path::Path;
use wal_api::SegmentId;

/// Zero-padded decimal form of any counter (epochs, chunk sequence numbers).
pub(crate) fn pad(n: u64) -> String {
    SegmentId(n).padded()
}

/// Strict parse of [`pad`]'s form.
pub(crate) fn parse_pad(s: &str) -> Option<u64> {
    SegmentId::parse_padded(s).map(|id| id.0)
}

/// Keys of one store.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    root: Path,
}

/// What a key under the root names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    Epoch(u64),
    Chunk { id: SegmentId, seq: u64 },
    Sealed { id: SegmentId, epoch: u64 },
}

impl Keys {
    pub(crate) fn new(root: Path) -> Keys {
        Keys { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn epoch_dir(&self) -> Path {
        self.root.clone().join("epoch")
    }

    pub(crate) fn epoch(&self, e: u64) -> Path {
        self.epoch_dir().join(pad(e))
    }

    pub(crate) fn chunk_dir(&self, id: SegmentId) -> Path {
        self.root.clone().join("chunks").join(id.padded())
    }

    pub(crate) fn chunk(&self, id: SegmentId, seq: u64) -> Path {
        self.chunk_dir(id).join(pad(seq))
    }

    pub(crate) fn sealed_dir(&self, id: SegmentId) -> Path {
        self.root.clone().join("segments").join(id.padded())
    }

    pub(crate) fn sealed(&self, id: SegmentId, epoch: u64) -> Path {
        self.sealed_dir(id).join(pad(epoch))
    }

    pub(crate) fn quarantine(&self, id: SegmentId, epoch: u64, unique: &str) -> Path {
        self.root
            .clone()
            .join("quarantine")
            .join(id.padded())
            .join(format!("{}-{unique}", pad(epoch)))
    }

    pub(crate) fn tmp(&self, name: &str) -> Path {
        self.root.clone().join("tmp").join(name)
    }

    /// Parses a listed key; `None` for anything this layout does not generate.
    pub(crate) fn parse(&self, key: &Path) -> Option<Key> {
        let parts: Vec<_> = key.prefix_match(&self.root)?.collect();
        let parts: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
        match parts.as_slice() {
            ["epoch", e] => parse_pad(e).map(Key::Epoch),
            ["chunks", id, seq] => Some(Key::Chunk {
                id: SegmentId::parse_padded(id)?,
                seq: parse_pad(seq)?,
            }),
            ["segments", id, epoch] => Some(Key::Sealed {
                id: SegmentId::parse_padded(id)?,
                epoch: parse_pad(epoch)?,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_foreign_names_are_ignored() {
        let k = Keys::new(Path::from("logs/a"));
        let id = SegmentId(7);
        assert_eq!(k.parse(&k.epoch(3)), Some(Key::Epoch(3)));
        assert_eq!(k.parse(&k.chunk(id, 9)), Some(Key::Chunk { id, seq: 9 }));
        assert_eq!(
            k.parse(&k.sealed(id, 2)),
            Some(Key::Sealed { id, epoch: 2 })
        );
        for foreign in [
            "logs/a/chunks/7/00000000000000000001",
            "logs/a/segments/00000000000000000007",
            "logs/a/segments/00000000000000000007/2",
            "logs/a/README",
            "logs/a/tmp/x",
            "logs/b/epoch/00000000000000000001",
            "logs/a/epoch/00000000000000000001/x",
        ] {
            assert_eq!(k.parse(&Path::from(foreign)), None, "{foreign}");
        }
        assert!(k.parse(&k.quarantine(id, 1, "x")).is_none());
    }
}
