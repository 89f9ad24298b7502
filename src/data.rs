//! The data directory: where `serve` and `import` find the database, the object store and the
//! signing key. Both commands open it the same way, so they can share it while running.
//!
//! ```text
//! {data_dir}/lectern.db        SQLite (WAL)
//! {data_dir}/store/            local object store: media/{video_id}/{rev}/...
//! {data_dir}/keys/signing.key  playback-token keys (ID:HEX lines, first signs), made at first use, 0600
//! {data_dir}/keys/jwt.key      the API's access-token secret (one ID:HEX line), made at first use, 0600
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use lectern_api::Database;
use lectern_origin::{Signer, SigningKey};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

/// Id of the key generated on first use.
const GENERATED_KEY_ID: &str = "k1";

/// An opened data directory.
pub struct DataDir {
    /// The database.
    pub db: Database,
    /// The object store.
    pub store: Arc<dyn ObjectStore>,
    /// Signs and verifies playback tokens.
    pub signer: Signer,
    /// Secret of the API's access tokens (`keys/jwt.key`, made at first use).
    pub jwt_secret: Vec<u8>,
}

/// A fresh random id: 16 lowercase hex characters.
pub fn new_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Parses `ID:HEX` lines (blank lines and `#` comments ignored); the first key signs.
fn parse_keys(text: &str, path: &Path) -> anyhow::Result<Vec<SigningKey>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (id, hex) = line
                .split_once(':')
                .with_context(|| format!("{}: a line is not ID:HEX", path.display()))?;
            let secret = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("x"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .with_context(|| format!("{}: key {id} is not hex", path.display()))?;
            Ok(SigningKey {
                id: id.to_string(),
                secret,
            })
        })
        .collect()
}

/// The playback-token keys in `dir/signing.key`, one `ID:HEX` per line, the first signing and
/// all verifying (rotate by putting a new key first and removing the old one a token life later).
/// Made with one random key on first use.
fn load_or_create_keys(dir: &Path) -> anyhow::Result<Vec<SigningKey>> {
    load_or_create_keys_at(dir, &dir.join("signing.key"))
}

/// [`load_or_create_keys`] for the key file at `path` in `dir`.
fn load_or_create_keys_at(dir: &Path, path: &Path) -> anyhow::Result<Vec<SigningKey>> {
    let path = path.to_path_buf();
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_keys(&text, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(mut file) => {
                    file.write_all(format!("{GENERATED_KEY_ID}:{hex}\n").as_bytes())?;
                    file.sync_all()?;
                    Ok(vec![SigningKey {
                        id: GENERATED_KEY_ID.into(),
                        secret: secret.to_vec(),
                    }])
                }
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create_keys_at(dir, &path)
                }
                Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A 32-byte secret kept as hex in `dir/name` (0600), made on first use.
fn load_or_create_secret(dir: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(name);
    let keys = load_or_create_keys_at(dir, &path)?;
    Ok(keys
        .into_iter()
        .next()
        .map(|k| k.secret)
        .unwrap_or_default())
}

impl DataDir {
    /// Opens (creating what is missing) the data directory at `root`.
    pub async fn open(root: &Path) -> anyhow::Result<Self> {
        let root: PathBuf = root.to_path_buf();
        let store_dir = root.join("store");
        std::fs::create_dir_all(&store_dir)
            .with_context(|| format!("cannot create {}", store_dir.display()))?;
        let db = Database::open(&root.join("lectern.db")).await?;
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(&store_dir)?.with_automatic_cleanup(true));
        let signer = Signer::new(load_or_create_keys(&root.join("keys"))?)?;
        let jwt_secret = load_or_create_secret(&root.join("keys"), "jwt.key")?;
        Ok(Self {
            db,
            store,
            signer,
            jwt_secret,
        })
    }
}
