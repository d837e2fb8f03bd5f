//! Pseudonymous voter keys: ballots are stored under a keyed hash of the voter's
//! id, so double votes are still caught and the log can be audited without
//! storing who voted for what.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::ids::ResidentId;

/// A key that is too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a voter key needs at least {min} bytes, got {len}")]
pub struct KeyError {
    /// Bytes given.
    pub len: usize,
    /// Bytes needed.
    pub min: usize,
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
            return Err(KeyError {
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
}
