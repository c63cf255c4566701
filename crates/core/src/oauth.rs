//! OAuth for service principals: the rules of their secrets and of the `client_credentials`
//! grant that exchanges a secret for a one-hour access token.

use crate::PrincipalId;
use crate::access::{Caller, Forbidden};
use crate::time::EpochMillis;
use sha2::{Digest, Sha256};

/// A secret lives this long unless its create asks otherwise: 730 days, as on Databricks.
pub const DEFAULT_SECRET_LIFETIME_SECONDS: i64 = 730 * 24 * 3600;

/// The longest lifetime a secret may be given: the default, as Databricks caps it.
pub const MAX_SECRET_LIFETIME_SECONDS: i64 = DEFAULT_SECRET_LIFETIME_SECONDS;

/// How long an access token lives.
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;

/// The one scope granted: every API the principal may call.
pub const ALL_APIS: &str = "all-apis";

/// The most secrets one principal may hold at once, so that a loop cannot fill the database.
pub const MAX_SECRETS_PER_PRINCIPAL: i64 = 5;

/// A secret's lifetime in seconds from the create request's `lifetime` (`"31536000s"`, a
/// protobuf duration; absent for the default). The error is a message for the client.
pub fn secret_lifetime_seconds(lifetime: Option<&str>) -> Result<i64, String> {
    let Some(text) = lifetime else {
        return Ok(DEFAULT_SECRET_LIFETIME_SECONDS);
    };
    let seconds = text
        .strip_suffix('s')
        .filter(|digits| !digits.is_empty() && digits.len() <= 12)
        .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<i64>().ok())
        .ok_or_else(|| {
            format!("lifetime must be a number of seconds followed by 's', e.g. \"31536000s\", not {text:?}")
        })?;
    if seconds == 0 {
        return Err("lifetime must be at least 1s".into());
    }
    if seconds > MAX_SECRET_LIFETIME_SECONDS {
        return Err(format!(
            "lifetime {seconds}s is longer than the {MAX_SECRET_LIFETIME_SECONDS}s (730 days) a secret may live"
        ));
    }
    Ok(seconds)
}

/// What a secret's listing shows to tell secrets apart and match one a client holds: a
/// SHA-256 of the value in its own domain, so it is never the digest the secret is looked up
/// by; 16 hex digits.
pub fn secret_hash(secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"patchbay oauth secret hash\0");
    hasher.update(secret.as_bytes());
    hex::encode(&hasher.finalize()[..8])
}

/// A new public secret id: 32 random hex digits, unrelated to the value.
pub fn new_secret_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// Whether a string has the shape of a secret id (a malformed one is a plain "not found").
pub fn is_secret_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether this admin may create, list and delete the secrets of principal `principal_id`:
/// not its own, so that a leaked credential of an admin principal cannot mint itself new ones.
pub fn may_manage_secrets(admin: &Caller, principal_id: PrincipalId) -> Result<(), Forbidden> {
    if admin.principal_id == principal_id {
        return Err(Forbidden(
            "A service principal may not manage its own OAuth secrets; ask another admin.".into(),
        ));
    }
    Ok(())
}

/// Whether a presented client id is the principal's application id, in constant time.
pub fn same_client(application_id: &str, presented: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(application_id.as_bytes(), presented.as_bytes()).into()
}

/// Whether the scopes a token request asks for are granted: none (the default), or `all-apis`
/// among OpenID's harmless ones.
pub fn scope_allowed(scope: Option<&str>) -> bool {
    scope.is_none_or(|s| {
        s.split(' ')
            .filter(|s| !s.is_empty())
            .all(|s| matches!(s, ALL_APIS | "openid" | "profile" | "email" | "offline_access"))
    })
}

/// The public client of the Databricks CLI and SDKs (`external-browser` auth): no secret, its
/// redirect goes to a port on the user's own machine, PKCE proves the code's requester.
pub const PUBLIC_CLIENT: &str = "databricks-cli";

/// How long an authorization code may wait for its exchange.
pub const CODE_SECONDS: i64 = 300;

/// How long a refresh token lives (each use replaces it).
pub const REFRESH_SECONDS: i64 = 90 * 24 * 3600;

/// Whether a public client may be sent back to `uri`: plain HTTP to the loopback interface
/// (`localhost`, `127.0.0.1`, `[::1]`), any port and path, no user info, no fragment (RFC 8252
/// §7.3). Anything else is refused without a redirect.
pub fn loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    if uri.contains('#') || uri.len() > 2048 {
        return false;
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !authority.ends_with(']') => (h, Some(p)),
        _ => (authority, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// A new client id for a partner's OAuth U2M app: `pc-` and 32 random hex digits, so that it
/// is never [`PUBLIC_CLIENT`] and tells an admin reading a log what it is.
pub fn new_app_client_id() -> String {
    format!("pc-{}", new_secret_id())
}

/// Whether a client id has the shape of a partner app's (a malformed one is looked up nowhere).
pub fn is_app_client_id(s: &str) -> bool {
    s.strip_prefix("pc-").is_some_and(is_secret_id)
}

/// Whether a partner's OAuth callback (`oauth_redirect_uri`, already checked against its
/// hostnames) may receive users' authorization codes: HTTPS, or plain HTTP to the loopback
/// interface only (a partner on the same machine, RFC 8252); never a fragment. The error is a
/// message for the admin.
pub fn partner_callback_allowed(uri: &str) -> Result<(), String> {
    if uri.contains('#') {
        return Err("it has a fragment".into());
    }
    if uri.len() > 2048 {
        return Err("it is longer than 2048 characters".into());
    }
    if uri.starts_with("https://") || loopback_redirect(uri) {
        return Ok(());
    }
    if let Some(rest) = uri.strip_prefix("http://") {
        let host = rest.split(['/', '?', ':']).next().unwrap_or_default();
        if host == "[" || host.is_empty() {
            return Err("it has no host".into());
        }
        return Err("codes go over HTTPS only (plain HTTP only to a loopback address)".into());
    }
    Err("it is not an https URL".into())
}

/// Whether a PKCE challenge (`S256`) is well formed: 43 base64url characters.
pub fn challenge_well_formed(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a code verifier matches the code's `S256` challenge, in constant time (RFC 7636).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine;
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    subtle::ConstantTimeEq::ct_eq(computed.as_bytes(), challenge.as_bytes()).into()
}

/// A connection's secret is reported this long before it expires.
pub const EXPIRY_WARNING_MILLIS: i64 = 30 * 24 * 3600 * 1000;

/// How a connection's OAuth secret stands, from its expiry (`None`: it no longer exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStanding {
    Fine,
    Deleted,
    Expired,
    /// Expires within [`EXPIRY_WARNING_MILLIS`]: the partner loses access then unless rotated.
    ExpiresSoon,
}

/// The rule of a connection's health for its secret.
pub fn secret_standing(expire_time: Option<EpochMillis>, now: EpochMillis) -> SecretStanding {
    match expire_time {
        None => SecretStanding::Deleted,
        Some(t) if t <= now => SecretStanding::Expired,
        Some(t) if t - now <= EXPIRY_WARNING_MILLIS => SecretStanding::ExpiresSoon,
        Some(_) => SecretStanding::Fine,
    }
}

impl SecretStanding {
    /// What an admin is told, with the date.
    pub fn reason(self, secret_id: &str, expire_time: Option<EpochMillis>) -> String {
        let date = expire_time.map(date_of).unwrap_or_default();
        match self {
            SecretStanding::Fine => String::new(),
            SecretStanding::Deleted => {
                format!("The OAuth secret {secret_id} the partner uses was deleted.")
            }
            SecretStanding::Expired => format!(
                "The OAuth secret {secret_id} the partner uses expired on {date}; rotate it."
            ),
            SecretStanding::ExpiresSoon => format!(
                "The OAuth secret {secret_id} the partner uses expires on {date}; rotate it before then."
            ),
        }
    }
}

/// `YYYY-MM-DD` (UTC) of an instant.
fn date_of(t: EpochMillis) -> String {
    let (year, month, day) = crate::time::civil_date(t.div_euclid(86_400_000));
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(secret_lifetime_seconds(None), Ok(63_072_000));
        assert_eq!(secret_lifetime_seconds(Some("31536000s")), Ok(31_536_000));
        assert_eq!(secret_lifetime_seconds(Some("1s")), Ok(1));
        for bad in ["", "s", "10", "0s", "-5s", "1.5s", "63072001s", "99999999999999999s", "1h"] {
            assert!(secret_lifetime_seconds(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_listed_hash_is_not_the_lookup_digest() {
        let secret = crate::token::TokenValue::generate_kind(crate::token::TokenKind::OAuthSecret);
        let hash = secret_hash(secret.expose());
        assert_eq!(hash.len(), 16);
        assert!(!secret.digest().as_str().contains(&hash));
        assert_eq!(hash, secret_hash(secret.expose()));
    }

    #[test]
    fn scopes() {
        assert!(scope_allowed(None));
        assert!(scope_allowed(Some("all-apis")));
        assert!(scope_allowed(Some("all-apis offline_access")));
        assert!(!scope_allowed(Some("sql")));
        assert!(!scope_allowed(Some("all-apis admin")));
    }

    #[test]
    fn a_connections_secret_is_reported_before_it_expires() {
        let now = 1_700_000_000_000;
        let day = 86_400_000;
        assert_eq!(secret_standing(None, now), SecretStanding::Deleted);
        assert_eq!(secret_standing(Some(now), now), SecretStanding::Expired);
        assert_eq!(secret_standing(Some(now + 29 * day), now), SecretStanding::ExpiresSoon);
        assert_eq!(secret_standing(Some(now + 31 * day), now), SecretStanding::Fine);
        let reason = SecretStanding::ExpiresSoon.reason("abc", Some(1_700_000_000_000));
        assert!(reason.contains("2023-11-14"), "{reason}");
    }

    #[test]
    fn only_loopback_redirects() {
        for ok in [
            "http://localhost:8020",
            "http://localhost:8020/",
            "http://127.0.0.1:53682/callback?x=1",
            "http://[::1]:8020",
            "http://localhost",
        ] {
            assert!(loopback_redirect(ok), "{ok}");
        }
        for bad in [
            "https://localhost:8020",
            "http://evil.example.com:8020",
            "http://localhost.evil.com",
            "http://localhost:8020@evil.com",
            "http://user@localhost:8020",
            "http://localhost:80x0",
            "http://localhost:8020/#frag",
            "http://127.0.0.2:8020",
            "javascript:alert(1)",
            "",
        ] {
            assert!(!loopback_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn partner_apps_and_their_callbacks() {
        let id = new_app_client_id();
        assert!(is_app_client_id(&id), "{id}");
        assert!(!is_app_client_id(PUBLIC_CLIENT));
        assert!(!is_app_client_id("pc-xyz"));
        for ok in [
            "https://partner.example.com/oauth/callback",
            "http://127.0.0.1:4000/callback",
            "http://localhost:4000/cb",
        ] {
            assert_eq!(partner_callback_allowed(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://partner.example.com/callback",
            "https://partner.example.com/cb#x",
            "ftp://partner.example.com/cb",
            "javascript:alert(1)",
        ] {
            assert!(partner_callback_allowed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pkce_s256() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(challenge_well_formed(challenge));
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX", challenge));
        assert!(!pkce_matches("short", challenge));
    }

    #[test]
    fn secret_ids() {
        assert!(is_secret_id(&new_secret_id()));
        assert!(!is_secret_id("x"));
    }
}
