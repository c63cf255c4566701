//! OAuth access tokens as signed JWTs (RFC 7519), so that a grant writes nothing: the token
//! carries who it is for and what minted it, signed with HMAC-SHA256 under a key of the store.
//!
//! One algorithm only, `HS256`: a header naming any other (`none` above all) is refused before
//! any key is looked at, and the key is picked by the header's `kid`, so keys can rotate. A
//! verified signature is not enough on its own: the caller still checks that the secret (or
//! grant) that minted the token and its principal are alive, on every request.

use crate::{PrincipalId, WorkspaceId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// The one signing algorithm.
pub const ALG: &str = "HS256";

/// Longer than any token patchbay signs; anything longer is refused unread.
const MAX_LEN: usize = 4096;

/// A signing key: its id, named in every token it signs, and 256 random bits. A credential:
/// `Debug` shows only the id.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    secret: [u8; 32],
}

impl SigningKey {
    /// A new key from the operating system's random source, with a random id.
    pub fn generate() -> SigningKey {
        let id: [u8; 8] = rand::random();
        SigningKey { kid: hex::encode(id), secret: rand::random() }
    }

    /// A key as the store keeps it (64 hex digits); `None` if the text is not one.
    pub fn from_hex(kid: &str, secret: &str) -> Option<SigningKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(secret, &mut bytes).ok()?;
        Some(SigningKey { kid: kid.to_owned(), secret: bytes })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// What the store keeps.
    pub fn secret_hex(&self) -> String {
        hex::encode(self.secret)
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC takes a key of any length")
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.kid)
    }
}

/// What an access token says. `secret_id` (a service principal's) or `grant_id` (a user's
/// browser sign-in) names what minted it; deleting that ends the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The principal's application id (service principal) or user name.
    pub sub: String,
    /// Seconds since the epoch.
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    pub principal_id: PrincipalId,
    pub workspace_id: WorkspaceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

/// A signed token. Its value is a bearer credential: `Debug` and `Display` redact it.
#[derive(Clone)]
pub struct Jwt(String);

impl Jwt {
    /// The value, for the one response that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

crate::token::redacted!(Jwt);

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    /// Extensions a verifier must understand (RFC 7515 §4.1.11): patchbay understands none.
    #[serde(default, skip_serializing)]
    crit: Option<serde_json::Value>,
}

/// Signs `claims` with `key`.
pub fn sign(key: &SigningKey, claims: &AccessClaims) -> Jwt {
    let header = Header {
        alg: ALG.to_owned(),
        kid: Some(key.kid.clone()),
        typ: Some("JWT".to_owned()),
        crit: None,
    };
    let header = serde_json::to_vec(&header).expect("a header serializes");
    let claims = serde_json::to_vec(claims).expect("claims serialize");
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let mut mac = key.mac();
    mac.update(token.as_bytes());
    let signature = mac.finalize().into_bytes();
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Jwt(token)
}

/// Whether a presented bearer value has a JWT's shape at all (three base64url parts), so that
/// anything else is refused as before without parsing.
pub fn looks_like_jwt(s: &str) -> bool {
    s.len() <= MAX_LEN
        && s.split('.').count() == 3
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A token whose header was read and found acceptable (`HS256`, a `kid`, nothing critical),
/// and whose claims were decoded, but whose signature is not yet checked: nothing in it may be
/// trusted until [`Unverified::verify`] says so.
#[derive(Debug)]
pub struct Unverified<'a> {
    kid: String,
    signing_input: &'a str,
    signature: Vec<u8>,
    claims: AccessClaims,
}

impl<'a> Unverified<'a> {
    /// Reads a presented token; `None` for anything malformed or of another algorithm.
    pub fn parse(token: &'a str) -> Option<Unverified<'a>> {
        if !looks_like_jwt(token) {
            return None;
        }
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, claims) = signing_input.split_once('.')?;
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header.alg != ALG || header.crit.is_some() {
            return None;
        }
        let kid = header.kid.filter(|k| !k.is_empty() && k.len() <= 64)?;
        let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
        Some(Unverified {
            kid,
            signing_input,
            signature: URL_SAFE_NO_PAD.decode(signature).ok()?,
            claims,
        })
    }

    /// The key id the header names: which key to verify with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The claims as presented, unverified: only to look up what verification needs.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// The claims, if `key` (the one named by the header) signed them (compared in constant
    /// time), they were issued by `issuer` for `audience`, and they have not expired at `now`
    /// (seconds since the epoch).
    pub fn verify(
        self,
        key: &SigningKey,
        issuer: &str,
        audience: &str,
        now: i64,
    ) -> Result<AccessClaims, Refused> {
        if key.kid != self.kid {
            return Err(Refused::Signature);
        }
        let mut mac = key.mac();
        mac.update(self.signing_input.as_bytes());
        mac.verify_slice(&self.signature).map_err(|_| Refused::Signature)?;
        let c = self.claims;
        if c.iss != issuer {
            return Err(Refused::Issuer);
        }
        if c.aud != audience {
            return Err(Refused::Audience);
        }
        if c.exp <= now {
            return Err(Refused::Expired);
        }
        Ok(c)
    }
}

/// Why a token with a good shape was refused (for tests and debugging: every one is the same
/// 401 to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Signature,
    Issuer,
    Audience,
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://ws/oidc".into(),
            aud: "https://ws".into(),
            sub: "app".into(),
            exp,
            iat: exp - 3600,
            jti: "j".into(),
            scope: "all-apis".into(),
            principal_id: PrincipalId::new(7),
            workspace_id: WorkspaceId::new(1),
            secret_id: Some("s".into()),
            grant_id: None,
        }
    }

    fn verify(token: &str, key: &SigningKey) -> Result<AccessClaims, Refused> {
        Unverified::parse(token).ok_or(Refused::Signature)?.verify(
            key,
            "https://ws/oidc",
            "https://ws",
            1000,
        )
    }

    #[test]
    fn a_signed_token_verifies_and_says_what_was_signed() {
        let key = SigningKey::generate();
        let token = sign(&key, &claims(2000));
        assert!(looks_like_jwt(token.expose()));
        assert_eq!(verify(token.expose(), &key), Ok(claims(2000)));
        assert_eq!(Unverified::parse(token.expose()).unwrap().kid(), key.kid());
        let stored = SigningKey::from_hex(key.kid(), &key.secret_hex()).unwrap();
        assert_eq!(verify(token.expose(), &stored), Ok(claims(2000)));
    }

    #[test]
    fn another_key_issuer_audience_or_time_is_refused() {
        let key = SigningKey::generate();
        let token = sign(&key, &claims(2000));
        let other = SigningKey::from_hex(key.kid(), &SigningKey::generate().secret_hex()).unwrap();
        assert_eq!(verify(token.expose(), &other), Err(Refused::Signature));
        assert_eq!(verify(token.expose(), &SigningKey::generate()), Err(Refused::Signature));
        let u = || Unverified::parse(token.expose()).unwrap();
        assert_eq!(u().verify(&key, "https://evil/oidc", "https://ws", 1000), Err(Refused::Issuer));
        assert_eq!(
            u().verify(&key, "https://ws/oidc", "https://evil", 1000),
            Err(Refused::Audience)
        );
        assert_eq!(u().verify(&key, "https://ws/oidc", "https://ws", 2000), Err(Refused::Expired));
    }

    #[test]
    fn changed_claims_break_the_signature() {
        let key = SigningKey::generate();
        let token = sign(&key, &claims(2000));
        let parts: Vec<&str> = token.expose().split('.').collect();
        let mut forged = claims(2000);
        forged.principal_id = PrincipalId::new(1);
        let forged_claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_eq!(verify(&forged, &key), Err(Refused::Signature));
    }

    #[test]
    fn other_algorithms_and_odd_headers_are_refused_unread() {
        let key = SigningKey::generate();
        let token = sign(&key, &claims(2000));
        let parts: Vec<&str> = token.expose().split('.').collect();
        let kid = key.kid();
        for header in [
            format!(r#"{{"alg":"none","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"HS512","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"hs256","kid":"{kid}"}}"#),
            r#"{"alg":"HS256"}"#.to_owned(),
            format!(r#"{{"alg":"HS256","kid":"{kid}","crit":["exp"]}}"#),
        ] {
            let h = URL_SAFE_NO_PAD.encode(header.as_bytes());
            for signature in [parts[2], ""] {
                let t = format!("{h}.{}.{signature}", parts[1]);
                assert!(Unverified::parse(&t).is_none(), "{header}");
            }
        }
        for garbage in ["", "a.b", "a.b.c.d", "a.b.c", "..", &"a".repeat(5000)] {
            assert!(Unverified::parse(garbage).is_none(), "{garbage}");
        }
    }

    #[test]
    fn nothing_secret_in_debug() {
        let key = SigningKey::generate();
        let token = sign(&key, &claims(2000));
        assert!(!format!("{key:?}").contains(&key.secret_hex()));
        assert_eq!(format!("{token:?} {token}"), "Jwt(<redacted>) <redacted>");
    }
}
