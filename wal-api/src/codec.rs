//! Typed records: a [`Codec`] turns values into record bytes and back.
//!
//! Two serde codecs come with the crate, each behind a feature: `BincodeCodec` (feature
//! `bincode`, on by default) and `PostcardCodec` (feature `postcard`, the maintained
//! alternative: bincode is flagged unmaintained, RUSTSEC-2025-0141). Their encodings differ:
//! a log written with one must be read with the same one.

#[cfg(any(feature = "bincode", feature = "postcard"))]
use serde::{de::DeserializeOwned, Serialize};

#[cfg(any(feature = "bincode", feature = "postcard"))]
use crate::error::Error;
use crate::error::Result;

/// Encodes and decodes typed records. Swap it to change the payload format.
///
/// An implementation reports failures as [`crate::Error::Codec`], built with
/// [`crate::Error::codec`] from its own error so that the error stays reachable
/// as the [`source`](std::error::Error::source).
pub trait Codec<T>: Send + Sync {
    /// Encodes `value` into `out` (appending).
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<()>;
    /// Decodes one value from `bytes`; all bytes must be consumed.
    fn decode(&self, bytes: &[u8]) -> Result<T>;
}

/// The default codec: bincode 2 with its standard configuration, through serde.
#[cfg(feature = "bincode")]
#[derive(Clone, Copy, Debug, Default)]
pub struct BincodeCodec;

#[cfg(feature = "bincode")]
impl<T: Serialize + DeserializeOwned> Codec<T> for BincodeCodec {
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<()> {
        let bytes = bincode::serde::encode_to_vec(value, bincode::config::standard())
            .map_err(Error::codec)?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<T> {
        let (value, used) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .map_err(Error::codec)?;
        trailing(bytes.len() - used)?;
        Ok(value)
    }
}

/// A codec over postcard 1 (compact, varint integers), through serde.
#[cfg(feature = "postcard")]
#[derive(Clone, Copy, Debug, Default)]
pub struct PostcardCodec;

#[cfg(feature = "postcard")]
impl<T: Serialize + DeserializeOwned> Codec<T> for PostcardCodec {
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<()> {
        let bytes = postcard::to_stdvec(value).map_err(Error::codec)?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<T> {
        let (value, rest) = postcard::take_from_bytes(bytes).map_err(Error::codec)?;
        trailing(rest.len())?;
        Ok(value)
    }
}

/// Refuses bytes left over after a decoded value.
#[cfg(any(feature = "bincode", feature = "postcard"))]
fn trailing(left: usize) -> Result<()> {
    if left == 0 {
        Ok(())
    } else {
        Err(Error::codec(format!(
            "{left} trailing bytes after the value"
        )))
    }
}

#[cfg(all(test, any(feature = "bincode", feature = "postcard")))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Put {
        key: String,
        value: Vec<u8>,
    }

    fn round_trips_and_rejects_garbage(c: &dyn Codec<Put>) {
        let v = Put {
            key: "k".into(),
            value: vec![1, 2, 3],
        };
        let mut out = Vec::new();
        c.encode(&v, &mut out).unwrap();
        let back: Put = c.decode(&out).unwrap();
        assert_eq!(back, v);
        out.push(0);
        assert!(c.decode(&out).is_err(), "a trailing byte is refused");
        assert!(c.decode(&[0xff; 3]).is_err(), "garbage is refused");
    }

    #[cfg(feature = "bincode")]
    #[test]
    fn bincode_round_trips_and_rejects_garbage() {
        round_trips_and_rejects_garbage(&BincodeCodec);
    }

    #[cfg(feature = "postcard")]
    #[test]
    fn postcard_round_trips_and_rejects_garbage() {
        round_trips_and_rejects_garbage(&PostcardCodec);
    }
}
