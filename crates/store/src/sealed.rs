//! Credentials patchbay must use again and so cannot keep as a digest — a partner's Basic
//! password, the keys that sign OAuth access tokens — are kept sealed: encrypted and
//! authenticated (ChaCha20-Poly1305) with the installation's secret key, which lives outside the database (`patchbay serve
//! --secret-key-file`, by default `secret.key` in the data directory). A copy of the database
//! alone holds no such credential.
//!
//! Every node of an installation is given the same key. The first store to be given a key
//! seals a known text with it into `secret_key_check`; a store given another key finds that it
//! does not open, and refuses to start instead of sealing with a key the others cannot read.
//!
//! A sealed value is bound to where it is kept (its table, column and row), so that a value
//! moved to another row in the database does not open there.

use crate::read::FromColumn;
use crate::{Result, Store, StoreError};
use patchbay_core::WorkspaceId;
use patchbay_core::jwt::SigningKey;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::Row;

/// How long a key is: 256 bits.
const KEY_LEN: usize = 32;
/// What a sealed value starts with: the format, so that another can follow (and what
/// `with_secret_key` tells a sealed signing key by).
const VERSION: &str = "v1.";
/// The text sealed into `secret_key_check`, and where it is kept.
const CHECK_TEXT: &str = "patchbay secret key check";
const CHECK_PLACE: &str = "secret_key_check";

/// The installation's secret key. Its value is never shown (`Debug` redacts it); it is read
/// from and written to the key file as 64 hex digits.
pub struct SecretKey {
    bytes: [u8; KEY_LEN],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> SecretKey {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new().fill(&mut bytes).expect("the operating system's random source failed");
        SecretKey { bytes }
    }

    /// The key of a key file: 64 hex digits (surrounding white space is ignored).
    pub fn from_file_text(text: &str) -> Result<SecretKey, String> {
        let text = text.trim();
        let mut bytes = [0u8; KEY_LEN];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| {
            format!(
                "a secret key is {} hex digits, this holds {} characters that are not",
                KEY_LEN * 2,
                text.chars().count()
            )
        })?;
        Ok(SecretKey { bytes })
    }

    /// The key as a key file holds it.
    pub fn file_text(&self) -> String {
        format!("{}\n", hex::encode(self.bytes))
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &self.bytes).expect("a 256-bit key"))
    }

    /// `plain` sealed for `place` (where it is kept: table, column and row).
    pub(crate) fn seal(&self, place: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("the operating system's random source failed");
        let mut sealed = plain.as_bytes().to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(place.as_bytes()),
                &mut sealed,
            )
            .expect("a value shorter than 256 GiB");
        format!("{VERSION}{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    /// What [`SecretKey::seal`] sealed for `place`; `None` when it was sealed with another key,
    /// for another place, or changed since.
    pub(crate) fn open(&self, place: &str, sealed: &str) -> Option<String> {
        let mut bytes = hex::decode(sealed.strip_prefix(VERSION)?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let mut sealed = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).ok()?;
        let plain =
            self.aead().open_in_place(nonce, Aad::from(place.as_bytes()), &mut sealed).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// Where a partner's password is kept: the place it is sealed for.
pub(crate) fn partner_password_place(workspace_id: WorkspaceId, partner_id: &str) -> String {
    format!("partner_settings.password_sealed:{workspace_id}:{partner_id}")
}

/// Where an OAuth signing key's secret is kept: the place it is sealed for.
pub(crate) fn signing_key_place(kid: &str) -> String {
    format!("oauth_signing_keys.secret:{kid}")
}

/// The signing key `kid` whose secret `sealed` holds; `None` when it does not open.
pub(crate) fn open_signing_key(key: &SecretKey, kid: &str, sealed: &str) -> Option<SigningKey> {
    SigningKey::from_hex(kid, &key.open(&signing_key_place(kid), sealed)?)
}

/// What [`Store::reseal`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resealed {
    /// Sealed this many credentials (and the key check) with the new key.
    Now { values: usize },
    /// Nothing: the database's credentials were sealed with the new key already.
    Already,
}

/// Whether `key` opens the database's key check (`false` when there is none yet).
async fn opens_check(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    key: &SecretKey,
) -> Result<bool> {
    let check: Option<String> = sqlx::query("SELECT sealed FROM secret_key_check WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.try_get("sealed"))
        .transpose()?;
    Ok(check.and_then(|check| key.open(CHECK_PLACE, &check)).as_deref() == Some(CHECK_TEXT))
}

/// How the credentials [`seal_again`] reads are kept.
#[derive(Clone, Copy)]
enum Kept<'a> {
    /// In the clear, as versions before sealing kept them.
    Clear,
    /// Sealed with this key.
    Sealed(&'a SecretKey),
}

/// Seals with `to` every partner password and OAuth signing key kept as `from` says, and
/// returns how many. A sealed one that does not open with its key is refused, naming it.
async fn seal_again(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    from: Kept<'_>,
    to: &SecretKey,
) -> Result<usize> {
    let open = |place: &str, kept: String, what: &dyn Fn() -> String| match from {
        Kept::Clear => Ok(kept),
        Kept::Sealed(key) => key.open(place, &kept).ok_or_else(|| {
            StoreError::Config(format!("{} does not open with the key file's key", what()))
        }),
    };
    // A sealed value starts with VERSION; a clear signing key is hex, a clear password has a
    // column of its own.
    let (passwords, signing_keys) = match from {
        Kept::Clear => (
            "SELECT workspace_id, partner_id, password AS kept FROM partner_settings \
             WHERE password IS NOT NULL",
            "SELECT kid, secret FROM oauth_signing_keys WHERE secret NOT LIKE 'v1.%'",
        ),
        Kept::Sealed(_) => (
            "SELECT workspace_id, partner_id, password_sealed AS kept FROM partner_settings \
             WHERE password_sealed IS NOT NULL",
            "SELECT kid, secret FROM oauth_signing_keys WHERE secret LIKE 'v1.%'",
        ),
    };
    let mut count = 0;
    let rows = sqlx::query(passwords).fetch_all(&mut **tx).await?;
    for row in rows {
        let workspace_id = WorkspaceId::from_column(&row, "workspace_id")?;
        let partner_id: String = row.try_get("partner_id")?;
        let place = partner_password_place(workspace_id, &partner_id);
        let plain = open(&place, row.try_get("kept")?, &|| {
            format!("partner {partner_id}'s password in workspace {workspace_id}")
        })?;
        sqlx::query(
            "UPDATE partner_settings SET password_sealed = $1, password = NULL \
             WHERE workspace_id = $2 AND partner_id = $3",
        )
        .bind(to.seal(&place, &plain))
        .bind(workspace_id.get())
        .bind(&partner_id)
        .execute(&mut **tx)
        .await?;
        count += 1;
    }
    let rows = sqlx::query(signing_keys).fetch_all(&mut **tx).await?;
    for row in rows {
        let kid: String = row.try_get("kid")?;
        let place = signing_key_place(&kid);
        let plain =
            open(&place, row.try_get("secret")?, &|| format!("the OAuth signing key {kid}"))?;
        sqlx::query("UPDATE oauth_signing_keys SET secret = $1 WHERE kid = $2")
            .bind(to.seal(&place, &plain))
            .bind(&kid)
            .execute(&mut **tx)
            .await?;
        count += 1;
    }
    Ok(count)
}

fn another_key() -> StoreError {
    StoreError::Config(
        "this database's credentials were sealed with another secret key: give every node of \
         an installation the same key file (--secret-key-file)"
            .into(),
    )
}

impl Store {
    /// This store, sealing and opening with `key`. Refused when the database's values were
    /// sealed with another key. A password or signing key an older version kept in the clear is
    /// sealed now, and its clear text removed.
    pub async fn with_secret_key(mut self, key: SecretKey) -> Result<Store> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO secret_key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(key.seal(CHECK_PLACE, CHECK_TEXT))
        .execute(&mut *tx)
        .await?;
        if !opens_check(&mut tx, &key).await? {
            return Err(another_key());
        }
        seal_again(&mut tx, Kept::Clear, &key).await?;
        tx.commit().await?;
        self.secret_key = Some(std::sync::Arc::new(key));
        Ok(self)
    }

    /// Refused when this store's secret key no longer opens the database's credentials: the
    /// key was rotated after this store was given it (a node checks this once it is
    /// registered, so that a rotation and its start cannot pass each other unseen).
    pub async fn check_secret_key(&self) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if !opens_check(&mut tx, self.secret_key()?).await? {
            return Err(another_key());
        }
        tx.commit().await?;
        Ok(())
    }

    /// Seals every credential sealed with `old` again with `new`, in one transaction: partner
    /// passwords, OAuth signing keys and the key check. Done already when `new` opens the key
    /// check (a rotation that stopped after this step, run again). Refused while a node that
    /// serves was seen in the last `gone_after_millis`: it holds `old` and could no longer
    /// open what it needs; and refused, changing nothing, when a credential does not open.
    pub async fn reseal(
        &self,
        old: &SecretKey,
        new: &SecretKey,
        gone_after_millis: i64,
    ) -> Result<Resealed> {
        let mut tx = self.begin_write().await?;
        if self.backend == crate::Backend::Postgres {
            // A node registering waits until this commits, then finds the new key check.
            sqlx::query("LOCK TABLE nodes IN EXCLUSIVE MODE").execute(&mut *tx).await?;
        }
        if opens_check(&mut tx, new).await? {
            return Ok(Resealed::Already);
        }
        if !opens_check(&mut tx, old).await? {
            return Err(StoreError::Config(
                "the key file's key does not open this database's credentials (a database no \
                 node has served yet has none: start patchbay once first)"
                    .into(),
            ));
        }
        let serving: i64 = sqlx::query("SELECT COUNT(*) AS n FROM nodes WHERE seen_at >= $1")
            .bind(self.now_millis().saturating_sub(gone_after_millis))
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if serving > 0 {
            return Err(StoreError::Config(format!(
                "{serving} node(s) served this database in the last {} s: stop every node \
                 first (a node that died counts until then)",
                gone_after_millis / 1000
            )));
        }
        let values = seal_again(&mut tx, Kept::Sealed(old), new).await?;
        sqlx::query("UPDATE secret_key_check SET sealed = $1 WHERE id = 1")
            .bind(new.seal(CHECK_PLACE, CHECK_TEXT))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Resealed::Now { values })
    }

    /// The secret key, which sealing and opening need.
    pub(crate) fn secret_key(&self) -> Result<&SecretKey> {
        self.secret_key.as_deref().ok_or_else(|| {
            StoreError::Config(
                "this store was opened without the installation's secret key, which a \
                 partner's credentials need"
                    .into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_key_and_place_only() {
        let key = SecretKey::generate();
        let sealed = key.seal("t.c:1", "hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open("t.c:1", &sealed).as_deref(), Some("hunter2"));
        assert_ne!(key.seal("t.c:1", "hunter2"), sealed, "a fresh nonce each time");
        assert_eq!(key.open("t.c:2", &sealed), None, "another place");
        assert_eq!(SecretKey::generate().open("t.c:1", &sealed), None, "another key");
        let mut changed = sealed.clone().into_bytes();
        let last = changed.len() - 1;
        changed[last] = if changed[last] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(changed).unwrap();
        assert_eq!(key.open("t.c:1", &changed), None, "a changed value");
        for junk in ["", "v1.", "v1.zz", "v2.00", "hunter2"] {
            assert_eq!(key.open("t.c:1", junk), None, "{junk}");
        }
    }

    /// A rotation seals every credential again with the new key, and then only the new key
    /// opens them; refused, it changes nothing: while a node serves, or when a credential
    /// does not open with the old key.
    #[tokio::test]
    async fn a_rotation_seals_every_credential_again_or_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = crate::bootstrap::fresh_store(dir.path()).await;
        let kid = store.signing_key().await.unwrap().kid().to_owned();
        let old = SecretKey::from_file_text(&store.secret_key().unwrap().file_text()).unwrap();
        let new = SecretKey::generate();
        let reopened = async |key: &SecretKey| {
            Store::connect(&crate::sqlite_url(&dir.path().join("t.db")))
                .await
                .unwrap()
                .with_secret_key(SecretKey::from_file_text(&key.file_text()).unwrap())
                .await
        };

        store.register_node("n1", "0000aaaa", crate::NodeAddress::default(), 60_000).await.unwrap();
        let refused = store.reseal(&old, &new, 60_000).await.unwrap_err();
        assert!(refused.to_string().contains("stop every node first"), "{refused}");
        store.forget_node("n1").await.unwrap();

        let place = signing_key_place(&kid);
        let sealed: String = sqlx::query("SELECT secret FROM oauth_signing_keys WHERE kid = $1")
            .bind(&kid)
            .fetch_one(&store.writes)
            .await
            .unwrap()
            .try_get("secret")
            .unwrap();
        let set_secret = async |secret: &str| {
            sqlx::query("UPDATE oauth_signing_keys SET secret = $1 WHERE kid = $2")
                .bind(secret)
                .bind(&kid)
                .execute(&store.writes)
                .await
                .unwrap();
        };
        set_secret(&SecretKey::generate().seal(&place, "00")).await;
        let refused = store.reseal(&old, &new, 60_000).await.unwrap_err();
        assert!(refused.to_string().contains(&kid), "{refused}");
        set_secret(&sealed).await;
        assert!(reopened(&old).await.is_ok(), "a refused rotation changed nothing");

        assert_eq!(store.reseal(&old, &new, 60_000).await.unwrap(), Resealed::Now { values: 1 });
        assert_eq!(
            store.reseal(&old, &new, 60_000).await.unwrap(),
            Resealed::Already,
            "run again, it is done"
        );
        assert!(reopened(&old).await.is_err(), "the old key opens nothing");
        let rotated = reopened(&new).await.unwrap();
        assert_eq!(rotated.signing_key().await.unwrap().kid(), kid);
    }

    #[test]
    fn a_key_file_holds_the_key_as_hex_and_debug_hides_it() {
        let key = SecretKey::generate();
        let text = key.file_text();
        assert_eq!(text.trim().len(), 64);
        let again = SecretKey::from_file_text(&format!("  {text}  ")).unwrap();
        assert_eq!(again.open("p", &key.seal("p", "x")).as_deref(), Some("x"));
        assert!(!format!("{key:?}").contains(text.trim()));
        for bad in ["", "abc", &"g".repeat(64), &"0".repeat(62)] {
            assert!(SecretKey::from_file_text(bad).is_err(), "{bad}");
        }
    }
}
