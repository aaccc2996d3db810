//! Encryption at rest (format version 3, feature `encryption`).
//!
//! A log opened with [`WalOptions::encryption`](crate::WalOptions) encrypts the body of
//! every record and batch frame of the segments it creates with XChaCha20-Poly1305
//! (RustCrypto's `chacha20poly1305`), after compression. The segment header records the
//! key's id, so keys rotate between segments: a [`KeyProvider`] names the key for new
//! segments and finds old ones by id.
//!
//! - **Nonces** are 24 bytes: 16 drawn from the operating system's random source when a
//!   log is opened, then a counter that only grows while it stays open. A crash, a
//!   `truncate_suffix` or a `reset` that writes new frames at old offsets never reuses
//!   one: a new process draws a new prefix, and one process never counts back.
//! - **Associated data** binds each ciphertext to its place: the segment's salt, the
//!   frame's LSN, record count, kind and flags, and its timestamp. A frame copied to another
//!   position, segment or log fails authentication even with a recomputed checksum.
//! - **Recovery needs no key**: the frame checksum covers the stored (encrypted) bytes, so
//!   torn tails and corruption are judged exactly as for plain frames. Keys are needed only
//!   to read records, and to append to an encrypted segment.
//! - **Errors**: a missing key is [`Error::Unreadable`](crate::Error::Unreadable) naming the
//!   key id; a wrong key (caught by the segment's 16-bit key check) likewise; a frame that
//!   fails authentication with the right key is [`Error::Corrupt`](crate::Error::Corrupt).
//!   Never garbage.

use std::collections::BTreeMap;

/// A 256-bit key.
pub type Key = [u8; 32];

/// Where a log's keys come from.
pub trait KeyProvider: Send + Sync + std::fmt::Debug + 'static {
    /// The key new segments are encrypted with, and its id (not 0).
    fn current(&self) -> (u16, Key);
    /// The key with id `id`, if this provider has it.
    fn key(&self, id: u16) -> Option<Key>;
}

/// A fixed set of keys, one of them current: the simplest [`KeyProvider`].
///
/// ```
/// use wal_api::crypto::{KeyProvider, StaticKeys};
///
/// let keys = StaticKeys::new(1, [7; 32]).with(2, [9; 32]).current_id(2);
/// assert_eq!(keys.current().0, 2);
/// assert_eq!(keys.key(1), Some([7; 32]));
/// ```
#[derive(Clone)]
pub struct StaticKeys {
    current: u16,
    keys: BTreeMap<u16, Key>,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key bytes.
        f.debug_struct("StaticKeys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl StaticKeys {
    /// One key, current. `id` must not be 0 (0 means "not encrypted"; such a provider is
    /// refused when the log opens).
    pub fn new(id: u16, key: Key) -> StaticKeys {
        StaticKeys {
            current: id,
            keys: BTreeMap::from([(id, key)]),
        }
    }

    /// Adds (or replaces) a key that is not current.
    #[must_use]
    pub fn with(mut self, id: u16, key: Key) -> StaticKeys {
        self.keys.insert(id, key);
        self
    }

    /// Makes key `id` current (it must have been added).
    #[must_use]
    pub fn current_id(mut self, id: u16) -> StaticKeys {
        self.current = id;
        self
    }
}

impl KeyProvider for StaticKeys {
    fn current(&self) -> (u16, Key) {
        (
            self.current,
            self.keys.get(&self.current).copied().unwrap_or([0; 32]),
        )
    }

    fn key(&self, id: u16) -> Option<Key> {
        self.keys.get(&id).copied()
    }
}

/// The key with id `id` from `keys` (`None` for id 0, no provider, or an unknown id).
pub(crate) fn key_of(keys: Option<&dyn KeyProvider>, id: u16) -> Option<Key> {
    if id == 0 {
        return None;
    }
    keys.and_then(|k| k.key(id))
}

/// The 16-bit check of `key` for a segment salted `salt`: the first two bytes of the tag
/// of an empty message (nonce: the salt, little-endian, then 16 zero bytes; associated
/// data: `RSWAL key check`). Never 0 (0 becomes 1), so a header says "no key" only with
/// key id 0.
pub fn key_check(key: &Key, salt: u64) -> Result<u16, String> {
    let mut nonce = [0u8; crate::format::NONCE_LEN];
    nonce[..8].copy_from_slice(&salt.to_le_bytes());
    let tag = seal(key, &nonce, b"RSWAL key check", &[])?;
    let v = u16::from_le_bytes([tag[0], tag[1]]);
    Ok(v.max(1))
}

/// Where nonces come from: a random prefix drawn once, then a counter.
#[derive(Clone, Debug)]
pub(crate) struct Nonces {
    prefix: [u8; 16],
    counter: u64,
}

impl Nonces {
    /// A fresh prefix from the operating system's random source.
    pub(crate) fn new() -> Result<Nonces, String> {
        let mut prefix = [0u8; 16];
        random(&mut prefix)?;
        Ok(Nonces { prefix, counter: 0 })
    }

    /// The next nonce; none repeats while this source lives.
    pub(crate) fn next(&mut self) -> [u8; crate::format::NONCE_LEN] {
        let mut n = [0u8; crate::format::NONCE_LEN];
        n[..16].copy_from_slice(&self.prefix);
        n[16..].copy_from_slice(&self.counter.to_le_bytes());
        self.counter += 1;
        n
    }
}

/// The associated data of an encrypted frame.
pub(crate) fn frame_aad(
    salt: u64,
    lsn: u64,
    count: u32,
    kind: u8,
    flags: u8,
    time: Option<u64>,
) -> Vec<u8> {
    let mut a = Vec::with_capacity(30);
    a.extend_from_slice(&salt.to_le_bytes());
    a.extend_from_slice(&lsn.to_le_bytes());
    a.extend_from_slice(&count.to_le_bytes());
    a.push(kind);
    a.push(flags);
    if let Some(t) = time {
        a.extend_from_slice(&t.to_le_bytes());
    }
    a
}

#[cfg(feature = "encryption")]
fn random(out: &mut [u8]) -> Result<(), String> {
    use chacha20poly1305::aead::rand_core::RngCore;
    chacha20poly1305::aead::OsRng
        .try_fill_bytes(out)
        .map_err(|e| format!("the system's random source failed: {e}"))
}

/// `plaintext` encrypted with `key` and `nonce`: ciphertext then tag.
#[cfg(feature = "encryption")]
pub(crate) fn seal(
    key: &Key,
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(key.into());
    cipher
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| "encryption failed".to_owned())
}

/// The plaintext of `sealed` (ciphertext then tag), or `None` when it fails authentication.
#[cfg(feature = "encryption")]
pub(crate) fn open(key: &Key, nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .ok()
}

#[cfg(not(feature = "encryption"))]
fn random(_: &mut [u8]) -> Result<(), String> {
    Err(NO_FEATURE.into())
}

#[cfg(not(feature = "encryption"))]
pub(crate) fn seal(_: &Key, _: &[u8], _: &[u8], _: &[u8]) -> Result<Vec<u8>, String> {
    Err(NO_FEATURE.into())
}

#[cfg(not(feature = "encryption"))]
pub(crate) fn open(_: &Key, _: &[u8], _: &[u8], _: &[u8]) -> Option<Vec<u8>> {
    None
}

#[cfg(not(feature = "encryption"))]
const NO_FEATURE: &str = "encryption needs wal-api's `encryption` feature";

/// Whether this build can encrypt and decrypt.
pub fn available() -> bool {
    cfg!(feature = "encryption")
}
