//! Pseudonymous voter keys: ballots are stored under a keyed hash of the voter's
//! id, so double votes are still caught and the log can be audited without
//! storing who voted for what.

use std::fmt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::ids::ResidentId;

/// A voter key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Too few bytes.
    #[error("a voter key needs at least {min} bytes, got {len}")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        min: usize,
    },
    /// Text that is not hex.
    #[error("not a voter key in hex: {reason}")]
    NotHex {
        /// What is wrong.
        reason: String,
    },
}

/// The embedding system's secret for pseudonymising voters (HMAC-SHA-256). The
/// same key always gives the same pseudonym for a resident, so a second ballot is
/// recognised; without the key, a pseudonym cannot be linked to a resident id.
/// Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct VoterKey {
    key: Vec<u8>,
}

impl VoterKey {
    /// The fewest key bytes accepted.
    pub const MIN_LEN: usize = 16;

    /// A key from secret bytes (at least 16; 32 random bytes recommended).
    ///
    /// # Errors
    /// [`KeyError`] for a shorter key.
    pub fn new(key: Vec<u8>) -> Result<VoterKey, KeyError> {
        if key.len() < Self::MIN_LEN {
            return Err(KeyError::TooShort {
                len: key.len(),
                min: Self::MIN_LEN,
            });
        }
        Ok(VoterKey { key })
    }

    /// A fresh random 32-byte key (from the operating system's generator).
    pub fn random() -> VoterKey {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(Uuid::new_v4().as_bytes());
        key.extend_from_slice(Uuid::new_v4().as_bytes());
        VoterKey { key }
    }

    /// The key bytes, to store them where the embedding system keeps secrets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.key
    }

    /// The pseudonym of a resident: the first 16 bytes of
    /// HMAC-SHA-256(key, domain ‖ id), shaped as a version-8 UUID.
    pub fn pseudonym(&self, resident: ResidentId) -> ResidentId {
        // Any key length is valid for HMAC; `new` has already checked ours.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return resident;
        };
        mac.update(b"medborgarbudget/voter/1\0");
        mac.update(resident.as_uuid().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0_u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        ResidentId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }
}

/// Why a voter key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold a usable key.
    #[error("{path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: KeyError,
    },
}

impl VoterKey {
    /// The key as lower-case hex.
    pub fn to_hex(&self) -> String {
        self.key.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A key from hex (surrounding white space ignored).
    ///
    /// # Errors
    /// [`KeyError::NotHex`] for text that is not pairs of hex digits,
    /// [`KeyError::TooShort`] for fewer than [`VoterKey::MIN_LEN`] bytes.
    pub fn from_hex(text: &str) -> Result<VoterKey, KeyError> {
        let text = text.trim();
        let not_hex = |reason: String| KeyError::NotHex { reason };
        if !text.len().is_multiple_of(2) {
            return Err(not_hex(format!("{} hex digits, an odd number", text.len())));
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| not_hex(format!("not a hex digit pair at {i}")))
            })
            .collect::<Result<Vec<u8>, KeyError>>()?;
        VoterKey::new(bytes)
    }

    /// Reads a key file written by [`VoterKey::write_file`].
    ///
    /// # Errors
    /// [`KeyFileError`] naming the file.
    pub fn read_file(path: &Path) -> Result<VoterKey, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        VoterKey::from_hex(&text).map_err(|source| KeyFileError::Key {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the key as hex, readable only by its owner on Unix.
    ///
    /// # Errors
    /// [`KeyFileError::Io`].
    pub fn write_file(&self, path: &Path) -> Result<(), KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        std::fs::write(path, self.to_hex() + "\n").map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        Ok(())
    }
}

impl fmt::Debug for VoterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VoterKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_opaque() {
        let a = VoterKey::new(vec![1; 32]).unwrap();
        let b = VoterKey::new(vec![2; 32]).unwrap();
        let r = ResidentId::from_u128(42);
        assert_eq!(a.pseudonym(r), a.pseudonym(r));
        assert_ne!(a.pseudonym(r), r);
        assert_ne!(a.pseudonym(r), b.pseudonym(r));
        assert_ne!(a.pseudonym(r), a.pseudonym(ResidentId::from_u128(43)));
        assert_eq!(a.pseudonym(r).as_uuid().get_version_num(), 8);
        assert!(VoterKey::new(vec![0; 15]).is_err());
        assert_eq!(format!("{a:?}"), "VoterKey(…)");
        assert_ne!(VoterKey::random().as_bytes(), VoterKey::random().as_bytes());
    }

    #[test]
    fn keys_round_trip_through_hex_and_files() {
        let key = VoterKey::random();
        let again = VoterKey::from_hex(&format!("  {}\n", key.to_hex())).unwrap();
        assert_eq!(again.as_bytes(), key.as_bytes());
        assert!(matches!(
            VoterKey::from_hex("abc"),
            Err(KeyError::NotHex { .. })
        ));
        assert!(matches!(
            VoterKey::from_hex("zz"),
            Err(KeyError::NotHex { .. })
        ));
        assert!(matches!(
            VoterKey::from_hex("00ff"),
            Err(KeyError::TooShort { len: 2, .. })
        ));
        let path = std::env::temp_dir().join(format!("voter-key-{}", std::process::id()));
        key.write_file(&path).unwrap();
        assert_eq!(
            VoterKey::read_file(&path).unwrap().as_bytes(),
            key.as_bytes()
        );
        std::fs::write(&path, "xyz").unwrap();
        assert!(matches!(
            VoterKey::read_file(&path),
            Err(KeyFileError::Key { .. })
        ));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            VoterKey::read_file(&path),
            Err(KeyFileError::Io { .. })
        ));
    }
}
