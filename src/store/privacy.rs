//! Pseudonymous voter keys: ballots are stored under a keyed hash of the voter's
//! id, so double votes are still caught and the log can be audited without
//! storing who voted for what.

use std::fmt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::ids::ResidentId;

/// A key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Too few bytes.
    #[error("a key needs at least {min} bytes, got {len}")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        min: usize,
    },
    /// Too many bytes.
    #[error("a key has at most {max} bytes, got {len}")]
    TooLong {
        /// Bytes given.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// Text that is not hex.
    #[error("not a key in hex: {reason}")]
    NotHex {
        /// What is wrong.
        reason: String,
    },
    /// No text at all.
    #[error("the key is empty")]
    Empty,
}

/// Secret key bytes, checked: between [`MIN_KEY_LEN`] and [`MAX_KEY_LEN`].
#[derive(Clone)]
pub(crate) struct Secret(Vec<u8>);

/// The fewest bytes a key may have.
pub const MIN_KEY_LEN: usize = 16;
/// The most bytes a key may have.
pub const MAX_KEY_LEN: usize = 1024;
/// The largest key file read: the hex of [`MAX_KEY_LEN`] bytes and some white
/// space.
const MAX_KEY_FILE: u64 = 2 * MAX_KEY_LEN as u64 + 64;

impl Secret {
    pub(crate) fn new(key: Vec<u8>) -> Result<Secret, KeyError> {
        if key.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort {
                len: key.len(),
                min: MIN_KEY_LEN,
            });
        }
        if key.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        Ok(Secret(key))
    }

    pub(crate) fn random() -> Secret {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(Uuid::new_v4().as_bytes());
        key.extend_from_slice(Uuid::new_v4().as_bytes());
        Secret(key)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn from_hex(text: &str) -> Result<Secret, KeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        let not_hex = |reason: String| KeyError::NotHex { reason };
        if let Some((i, c)) = text.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(not_hex(format!(
                "{c:?} at character {} is not a hex digit",
                i + 1
            )));
        }
        if !text.len().is_multiple_of(2) {
            return Err(not_hex(format!("{} hex digits, an odd number", text.len())));
        }
        if text.len() / 2 > MAX_KEY_LEN {
            return Err(KeyError::TooLong {
                len: text.len() / 2,
                max: MAX_KEY_LEN,
            });
        }
        let bytes = text
            .as_bytes()
            .chunks(2)
            .map(|pair| {
                let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                digit(pair[0]) * 16 + digit(pair[1])
            })
            .collect();
        Secret::new(bytes)
    }

    pub(crate) fn read_file(path: &Path) -> Result<Secret, KeyFileError> {
        use std::io::Read;
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut text = String::new();
        file.take(MAX_KEY_FILE + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_KEY_FILE {
            return Err(KeyFileError::TooLarge {
                path: path.to_owned(),
                max: MAX_KEY_FILE,
            });
        }
        Secret::from_hex(&text).map_err(|source| KeyFileError::Key {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the key as hex to a new file, readable only by its owner (on Unix)
    /// from the start, all at once: into a temporary file beside it, which is
    /// then linked into place only if `path` does not exist yet. A reader never
    /// sees half a key, and of two writers racing to create the file exactly
    /// one succeeds; the other gets [`KeyFileError::Exists`].
    pub(crate) fn write_new_file(&self, path: &Path) -> Result<(), KeyFileError> {
        use std::io::Write;
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let file_name = path.file_name().ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a file name",
            ))
        })?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".{}.tmp", Uuid::new_v4().simple()));
        let temp = path.with_file_name(temp_name);
        let written = (|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&temp)?;
            file.write_all((self.to_hex() + "\n").as_bytes())?;
            file.sync_all()?;
            std::fs::hard_link(&temp, path)
        })();
        let _ = std::fs::remove_file(&temp);
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(KeyFileError::Exists {
                path: path.to_owned(),
            }),
            Err(e) => Err(io(e)),
        }
    }
}

/// The embedding system's secret for pseudonymising voters (HMAC-SHA-256). The
/// same key always gives the same pseudonym for a resident, so a second ballot is
/// recognised; without the key, a pseudonym cannot be linked to a resident id.
/// Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct VoterKey {
    key: Secret,
}

/// A short public name of a voter key: the first 8 bytes of
/// HMAC-SHA-256(key, `medborgarbudget/voter-key-fingerprint/1`), in hex. A
/// stream records the fingerprint of the key its ballots were pseudonymised
/// with, so that a writer with another key — which would let a resident vote
/// twice under two pseudonyms — is refused. It reveals nothing about the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyFingerprint(pub [u8; 8]);

impl KeyFingerprint {
    /// From 16 hex digits.
    ///
    /// # Errors
    /// [`KeyError::NotHex`] for anything else.
    pub fn from_hex(text: &str) -> Result<KeyFingerprint, KeyError> {
        super::hex_array(text)
            .map(KeyFingerprint)
            .ok_or_else(|| KeyError::NotHex {
                reason: format!("{text:?} is not a fingerprint: 16 hex digits"),
            })
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

impl TryFrom<String> for KeyFingerprint {
    type Error = KeyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        KeyFingerprint::from_hex(&s)
    }
}

impl From<KeyFingerprint> for String {
    fn from(f: KeyFingerprint) -> String {
        f.to_string()
    }
}

impl VoterKey {
    /// The fewest key bytes accepted.
    pub const MIN_LEN: usize = MIN_KEY_LEN;

    /// A key from secret bytes (16 to 1,024; 32 random bytes recommended).
    ///
    /// # Errors
    /// [`KeyError`] for a shorter or longer key.
    pub fn new(key: Vec<u8>) -> Result<VoterKey, KeyError> {
        Secret::new(key).map(|key| VoterKey { key })
    }

    /// A fresh random 32-byte key (from the operating system's generator).
    pub fn random() -> VoterKey {
        VoterKey {
            key: Secret::random(),
        }
    }

    /// The key bytes, to store them where the embedding system keeps secrets.
    pub fn as_bytes(&self) -> &[u8] {
        self.key.bytes()
    }

    /// The key's public fingerprint.
    pub fn fingerprint(&self) -> KeyFingerprint {
        let digest = mac(
            self.key.bytes(),
            &[b"medborgarbudget/voter-key-fingerprint/1"],
        );
        let mut out = [0_u8; 8];
        out.copy_from_slice(&digest[..8]);
        KeyFingerprint(out)
    }

    /// The pseudonym of a resident: the first 16 bytes of
    /// HMAC-SHA-256(key, domain ‖ id), shaped as a version-8 UUID.
    pub fn pseudonym(&self, resident: ResidentId) -> ResidentId {
        let digest = mac(
            self.key.bytes(),
            &[b"medborgarbudget/voter/1\0", resident.as_uuid().as_bytes()],
        );
        let mut bytes = [0_u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        ResidentId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// The key as lower-case hex.
    pub fn to_hex(&self) -> String {
        self.key.to_hex()
    }

    /// A key from hex (surrounding white space ignored).
    ///
    /// # Errors
    /// [`KeyError::Empty`], [`KeyError::NotHex`] naming the first character that
    /// is not a hex digit, or a key of the wrong length.
    pub fn from_hex(text: &str) -> Result<VoterKey, KeyError> {
        Secret::from_hex(text).map(|key| VoterKey { key })
    }

    /// Reads a key file written by [`VoterKey::write_file`] (at most a few
    /// kilobytes are read).
    ///
    /// # Errors
    /// [`KeyFileError`] naming the file.
    pub fn read_file(path: &Path) -> Result<VoterKey, KeyFileError> {
        Secret::read_file(path).map(|key| VoterKey { key })
    }

    /// Writes the key as hex to a new file, readable only by its owner on Unix
    /// from the moment it exists, and never half written.
    ///
    /// # Errors
    /// [`KeyFileError::Exists`] if the file exists (it is left as it is),
    /// [`KeyFileError::Io`].
    pub fn write_file(&self, path: &Path) -> Result<(), KeyFileError> {
        self.key.write_new_file(path)
    }

    /// The key in `path`, or, if there is no such file, a new random key
    /// written there first (readable only by its owner on Unix). Two processes
    /// doing this at once get the same key. Keep the file: ballots stored under
    /// its pseudonyms need it, and a store refuses a writer with another key.
    ///
    /// # Errors
    /// An unreadable or invalid file, or one that cannot be created, named.
    pub fn load_or_create(path: &Path) -> Result<VoterKey, KeyFileError> {
        read_or_create(path, true, Secret::random)?
            .map(|key| VoterKey { key })
            .ok_or_else(|| KeyFileError::Absent {
                path: path.to_owned(),
                why: "it could not be created".into(),
            })
    }
}

/// HMAC-SHA-256 of the concatenated `parts` under `key`.
pub(crate) fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Why a key file could not be read or written.
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
    /// The file is far longer than a key.
    #[error("{path}: longer than {max} bytes, so not a key file")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The most read.
        max: u64,
    },
    /// A new key file was to be written, but the file exists.
    #[error("{path}: exists already; a key is never overwritten")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The key file is missing beside a store that holds streams written with it.
    #[error("{path} is missing: {why}")]
    Absent {
        /// The file.
        path: PathBuf,
        /// What needs it.
        why: String,
    },
}

/// The key files kept beside a store's file (an SQLite database, say): the voter
/// key in `PATH.key` and the log key in `PATH.log-key`, both hex, both readable
/// by their owner only. A municipal system would keep its keys in its own secret
/// store instead; this is what the command line and the examples use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    /// The voter key's file.
    pub voter: PathBuf,
    /// The log key's file.
    pub log: PathBuf,
}

impl KeyFiles {
    /// The key files beside `store`.
    pub fn beside(store: &Path) -> KeyFiles {
        let with = |suffix: &str| {
            let mut path = store.as_os_str().to_owned();
            path.push(suffix);
            PathBuf::from(path)
        };
        KeyFiles {
            voter: with(".key"),
            log: with(".log-key"),
        }
    }

    /// The voter key: read from its file, or, for a store that holds nothing
    /// yet (`empty`), created. Two processes creating it at once get the same
    /// key.
    ///
    /// # Errors
    /// [`KeyFileError::Absent`] when the store holds streams but the file is
    /// gone (its ballots are stored under pseudonyms of that key), or an
    /// unreadable or invalid file, named.
    pub fn voter_key(&self, empty: bool) -> Result<VoterKey, KeyFileError> {
        read_or_create(&self.voter, empty, Secret::random)?
            .map(|key| VoterKey { key })
            .ok_or_else(|| KeyFileError::Absent {
                path: self.voter.clone(),
                why: "the ballots in the store beside it are stored under pseudonyms of that key"
                    .into(),
            })
    }

    /// The log key: read from its file, or, for a store that holds nothing yet
    /// (`empty`), created. `None` for a store written before log keys existed
    /// (no file, streams present): its streams carry no seal.
    ///
    /// # Errors
    /// An unreadable or invalid file, named.
    pub fn log_key(&self, empty: bool) -> Result<Option<super::LogKey>, KeyFileError> {
        read_or_create(&self.log, empty, Secret::random)
            .map(|key| key.map(super::LogKey::from_secret))
    }
}

/// Reads the key at `path`; if there is none and `create`, creates one, and if
/// another process created it first, reads theirs.
fn read_or_create(
    path: &Path,
    create: bool,
    fresh: fn() -> Secret,
) -> Result<Option<Secret>, KeyFileError> {
    match Secret::read_file(path) {
        Ok(key) => return Ok(Some(key)),
        Err(KeyFileError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound && create => {}
        Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    let key = fresh();
    match key.write_new_file(path) {
        Ok(()) => Ok(Some(key)),
        Err(KeyFileError::Exists { .. }) => Secret::read_file(path).map(Some),
        Err(e) => Err(e),
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
    fn load_or_create_creates_once_then_reads() {
        let dir = std::env::temp_dir().join(format!("mb-voter-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("voter.key");
        let _ = std::fs::remove_file(&path);
        let first = VoterKey::load_or_create(&path).unwrap();
        let again = VoterKey::load_or_create(&path).unwrap();
        let r = ResidentId::from_u128(7);
        assert_eq!(first.pseudonym(r), again.pseudonym(r));
        std::fs::write(&path, "not hex").unwrap();
        assert!(VoterKey::load_or_create(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

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
        let _ = std::fs::remove_file(&path);
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

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mb-keys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn bad_key_text_says_what_is_wrong_and_where() {
        assert_eq!(VoterKey::from_hex(" \n").unwrap_err(), KeyError::Empty);
        let err = VoterKey::from_hex("00112233445566778899aabbccddeefg").unwrap_err();
        assert!(err.to_string().contains("\'g\' at character 32"), "{err}");
        assert!(matches!(
            VoterKey::from_hex(&"ab".repeat(MAX_KEY_LEN + 1)),
            Err(KeyError::TooLong { len: 1025, .. })
        ));
        assert!(VoterKey::new(vec![7; MAX_KEY_LEN]).is_ok());
        assert!(VoterKey::new(vec![7; MAX_KEY_LEN + 1]).is_err());
    }

    #[test]
    fn a_long_key_file_is_refused_without_reading_it_all() {
        let dir = scratch("long");
        let path = dir.join("k");
        std::fs::write(&path, "a".repeat(1 << 20)).unwrap();
        match VoterKey::read_file(&path) {
            Err(e @ KeyFileError::TooLarge { .. }) => {
                assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private_from_the_start_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("private");
        let path = dir.join("voter.key");
        let key = VoterKey::random();
        key.write_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            VoterKey::random().write_file(&path),
            Err(KeyFileError::Exists { .. })
        ));
        assert_eq!(
            VoterKey::read_file(&path).unwrap().as_bytes(),
            key.as_bytes()
        );
        // Only the key is left: no temporary file.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn first_runs_racing_to_create_a_key_all_get_the_same_one() {
        let dir = scratch("race");
        let files = KeyFiles::beside(&dir.join("store.db"));
        let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| s.spawn(|| files.voter_key(true).unwrap().as_bytes().to_vec()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            keys.windows(2).all(|w| w[0] == w[1]),
            "every run reads the one key"
        );
        assert_eq!(
            VoterKey::read_file(&files.voter).unwrap().as_bytes(),
            keys[0].as_slice()
        );
        // Beside a store that holds streams, a missing key is an error naming it.
        let other = KeyFiles::beside(&dir.join("other.db"));
        let err = other.voter_key(false).unwrap_err();
        assert!(matches!(err, KeyFileError::Absent { .. }));
        assert!(err.to_string().contains("other.db.key"), "{err}");
        assert!(other.log_key(false).unwrap().is_none());
    }

    #[test]
    fn fingerprints_name_keys_without_revealing_them() {
        let a = VoterKey::new(vec![1; 32]).unwrap();
        assert_eq!(a.fingerprint(), a.fingerprint());
        assert_ne!(
            a.fingerprint(),
            VoterKey::new(vec![2; 32]).unwrap().fingerprint()
        );
        let text = a.fingerprint().to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(KeyFingerprint::from_hex(&text).unwrap(), a.fingerprint());
        assert!(!a.to_hex().contains(&text));
    }
}
