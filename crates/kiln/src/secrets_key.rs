//! Kiln's secrets key, which encrypts parameter and secret values at rest (docs/secrets.md):
//! `secrets_key` in kiln.toml or `KILN_SECRETS_KEY` (base64 of 32 bytes), else the key file
//! the first start generates in the data dir (mode 0600). The key is never in the database, so
//! a database backup alone reveals no value. Replicas sharing a PostgreSQL database must all be
//! configured with the same key.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use kiln_scheduler::secrets::Cipher;
use kiln_store::Store;

const FILE_NAME: &str = "secrets.key";

/// A configured key's text, kept out of `Debug` output.
#[derive(Clone)]
pub struct KeyText(pub String);

impl std::fmt::Debug for KeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secrets key>")
    }
}

/// The cipher of the configured key, or of the data dir's key file (made on first start).
pub fn load(
    configured: Option<&KeyText>,
    data_dir: &Path,
    shared_database: bool,
) -> anyhow::Result<Cipher> {
    if let Some(key) = configured {
        return Cipher::from_base64(&key.0).context("secrets_key (KILN_SECRETS_KEY)");
    }
    if shared_database {
        tracing::warn!(
            "no secrets_key is configured: this replica encrypts parameters and secrets with \
             the key in its own data dir; replicas sharing this database must all be configured \
             with the same secrets_key (docs/secrets.md)"
        );
    }
    let path = data_dir.join(FILE_NAME);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Cipher::from_base64(&text)
            .with_context(|| format!("the key in {}", path.display()));
    }
    let key = Cipher::generate_key();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(format!("{key}\n").as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated the secrets key");
    Cipher::from_base64(&key).context("the generated secrets key")
}

/// The store's name for the value sealed under the first key that used it.
const KEY_CHECK: &str = "secrets-key-check";

/// Refuses a key other than the one the store's values are sealed with: the first process to
/// use the store seals a check value under its key, and every later one must open it. Without
/// this, replicas with keys of their own would each read only what they wrote.
pub async fn check_against_store(cipher: &Cipher, store: &dyn Store) -> anyhow::Result<()> {
    let candidate = cipher
        .seal(&[KEY_CHECK], KEY_CHECK.as_bytes())
        .context("sealing the secrets key check")?;
    let stored = store
        .server_secret(KEY_CHECK, &candidate)
        .await
        .context("reading the secrets key check")?;
    if cipher.open(&[KEY_CHECK], &stored).is_err() {
        bail!(
            "this secrets key is not the one the database's parameters and secrets are sealed \
             with: configure the same secrets_key (KILN_SECRETS_KEY) on every replica, or keep \
             the data dir's secrets.key (docs/secrets.md)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_first_start_keeps_a_private_key_file_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = load(None, dir.path(), false).unwrap();
        let path = dir.path().join(FILE_NAME);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal(&["a"], b"value").unwrap();
        let again = load(None, dir.path(), false).unwrap();
        assert_eq!(again.open(&["a"], &sealed).unwrap(), b"value");
    }

    #[test]
    fn a_configured_key_wins_and_must_be_valid() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyText(Cipher::generate_key());
        let cipher = load(Some(&key), dir.path(), true).unwrap();
        assert!(!dir.path().join(FILE_NAME).exists());
        let sealed = cipher.seal(&[], b"v").unwrap();
        assert_eq!(
            Cipher::from_base64(&key.0)
                .unwrap()
                .open(&[], &sealed)
                .unwrap(),
            b"v"
        );
        assert!(load(Some(&KeyText("short".into())), dir.path(), false).is_err());
        assert_eq!(format!("{key:?}"), "<secrets key>");
    }
}
