//! Typed records: a [`Codec`] turns values into record bytes and back.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Encodes and decodes typed records. Swap it to change the payload format.
pub trait Codec<T>: Send + Sync {
    /// Encodes `value` into `out` (appending).
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<()>;
    /// Decodes one value from `bytes`; all bytes must be consumed.
    fn decode(&self, bytes: &[u8]) -> Result<T>;
}

/// The default codec: bincode 2 with its standard configuration, through serde.
#[derive(Clone, Copy, Debug, Default)]
pub struct BincodeCodec;

impl<T: Serialize + DeserializeOwned> Codec<T> for BincodeCodec {
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<()> {
        let bytes = bincode::serde::encode_to_vec(value, bincode::config::standard())
            .map_err(|e| Error::Codec(e.to_string()))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<T> {
        let (value, used) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .map_err(|e| Error::Codec(e.to_string()))?;
        if used != bytes.len() {
            return Err(Error::Codec(format!(
                "{} trailing bytes after the value",
                bytes.len() - used
            )));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Put {
        key: String,
        value: Vec<u8>,
    }

    #[test]
    fn bincode_round_trips_and_rejects_garbage() {
        let c = BincodeCodec;
        let v = Put {
            key: "k".into(),
            value: vec![1, 2, 3],
        };
        let mut out = Vec::new();
        c.encode(&v, &mut out).unwrap();
        let back: Put = c.decode(&out).unwrap();
        assert_eq!(back, v);
        out.push(0);
        assert!(Codec::<Put>::decode(&c, &out).is_err());
        assert!(Codec::<Put>::decode(&c, &[0xff; 3]).is_err());
    }
}
