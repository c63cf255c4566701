//! Bearer secrets: personal access tokens (`dapi`), service principals' OAuth secrets (`dose`),
//! users' refresh tokens (`dort`) and authorization codes (`doac`), each the prefix and 32
//! lower-case hex digits, shown once, stored as a digest. (OAuth access tokens are signed JWTs,
//! [`crate::jwt`]; their old prefix `doat` is still recognized, and authenticates nobody.) The prefix says what a value is for, so a value is
//! only ever looked up where its kind lives (an OAuth secret is never a bearer credential).
//!
//! The value lives only in a [`TokenValue`], whose `Debug` and `Display` redact it, so that it
//! cannot reach a log line by accident. At rest there is only its SHA-256 digest: a random
//! 128-bit secret cannot be brute-forced, so a slow hash would add cost and no safety, and a plain
//! digest can be indexed for the lookup on every request.

use sha2::{Digest, Sha256};

const HEX_LEN: usize = 32;

/// What a secret value is for, told by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A personal access token (`dapi…`): a bearer credential until it expires or is revoked.
    Personal,
    /// A service principal's OAuth secret (`dose…`): only exchanged at the token endpoint.
    OAuthSecret,
    /// An opaque OAuth access token (`doat…`), as patchbay minted them before they became JWTs:
    /// refused everywhere (they were all expired an hour after the upgrade).
    OAuthAccess,
    /// A user's OAuth refresh token (`dort…`): only exchanged at the token endpoint.
    OAuthRefresh,
    /// An OAuth authorization code (`doac…`): once, within minutes, at the token endpoint.
    OAuthCode,
}

impl TokenKind {
    const ALL: [TokenKind; 5] = [
        TokenKind::Personal,
        TokenKind::OAuthSecret,
        TokenKind::OAuthAccess,
        TokenKind::OAuthRefresh,
        TokenKind::OAuthCode,
    ];

    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Personal => "dapi",
            TokenKind::OAuthSecret => "dose",
            TokenKind::OAuthAccess => "doat",
            TokenKind::OAuthRefresh => "dort",
            TokenKind::OAuthCode => "doac",
        }
    }
}

/// A token's secret value. Exists once, in the response that created it.
#[derive(Clone)]
pub struct TokenValue(String, TokenKind);

/// Constant time, so that comparing a presented value with a held one (which patchbay itself
/// never needs: it looks tokens up by digest) cannot leak the matching prefix through timing.
impl PartialEq for TokenValue {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), other.0.as_bytes()).into()
    }
}

impl Eq for TokenValue {}

impl TokenValue {
    /// A new personal access token from the operating system's random source.
    pub fn generate() -> Self {
        TokenValue::generate_kind(TokenKind::Personal)
    }

    /// A new secret of `kind` from the operating system's random source.
    pub fn generate_kind(kind: TokenKind) -> Self {
        let bytes: [u8; HEX_LEN / 2] = rand::random();
        TokenValue(format!("{}{}", kind.prefix(), hex::encode(bytes)), kind)
    }

    /// Accepts only the exact format of one of the kinds; anything else cannot be a token and
    /// is refused without touching the database.
    pub fn parse(s: &str) -> Option<Self> {
        let kind = TokenKind::ALL.into_iter().find(|k| s.starts_with(k.prefix()))?;
        let hex = &s[kind.prefix().len()..];
        let well_formed = hex.len() == HEX_LEN
            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| TokenValue(s.to_owned(), kind))
    }

    /// What the value is for.
    pub fn kind(&self) -> TokenKind {
        self.1
    }

    /// The value itself, for the one response that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and looked up.
    pub fn digest(&self) -> TokenDigest {
        // Into a buffer of the right size (`hex::encode` builds its string char by char, and
        // this runs on every request).
        let mut hex = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(self.0.as_bytes()), &mut hex)
            .expect("64 hex digits for 32 bytes");
        TokenDigest(String::from_utf8_lossy(&hex).into_owned(), self.1)
    }
}

/// `Debug` and `Display` for a credential that name its type and say `<redacted>`: a value
/// that reaches a log line or an error message by mistake shows nothing of itself.
macro_rules! redacted {
    ($type:ident) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($type), "(<redacted>)"))
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("<redacted>")
            }
        }
    };
}
pub(crate) use redacted;

redacted!(TokenValue);

/// The SHA-256 digest of a token, in lower-case hex, and the kind of the value it was taken
/// of (which table it is looked up in). Safe to store; useless to a thief.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDigest(String, TokenKind);

impl TokenDigest {
    /// The digest of a presented JWT access token ([`crate::jwt`]): never stored, but what the
    /// rate limits and the read path's memory know it by.
    pub fn of_jwt(jwt: &str) -> TokenDigest {
        let mut hex = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(jwt.as_bytes()), &mut hex)
            .expect("64 hex digits for 32 bytes");
        TokenDigest(String::from_utf8_lossy(&hex).into_owned(), TokenKind::OAuthAccess)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> TokenKind {
        self.1
    }
}

/// The longest lifetime any token may be given, whatever the workspace allows: ten years.
pub const MAX_LIFETIME_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// Longest token comment.
pub const MAX_COMMENT_LEN: usize = 1024;

/// How long a token asked for with `lifetime_seconds` lives, in milliseconds (`None`: for
/// ever). With a workspace maximum, a token without a lifetime gets the maximum and a longer one
/// is refused. The error is a message for the client.
pub fn lifetime_millis(
    lifetime_seconds: Option<i64>,
    workspace_max_seconds: Option<i64>,
) -> Result<Option<i64>, String> {
    let lifetime = match (lifetime_seconds, workspace_max_seconds) {
        (Some(s), _) if s <= 0 => {
            return Err(format!(
                "lifetime_seconds must be a positive number of seconds, not {s}; omit it for a token that does not expire"
            ));
        }
        (Some(s), _) if s > MAX_LIFETIME_SECONDS => {
            return Err(format!(
                "lifetime_seconds {s} is longer than the {MAX_LIFETIME_SECONDS} seconds (10 years) any token may live"
            ));
        }
        (Some(s), Some(max)) if s > max => {
            return Err(format!(
                "lifetime_seconds {s} exceeds this workspace's maximum token lifetime of {max} seconds"
            ));
        }
        (Some(s), _) => Some(s),
        (None, max) => max,
    };
    Ok(lifetime.map(|s| s.saturating_mul(1000)))
}

/// Checks a token comment.
pub fn validate_comment(comment: &str) -> Result<(), String> {
    if comment.chars().count() > MAX_COMMENT_LEN {
        return Err(format!("comment is longer than {MAX_COMMENT_LEN} characters"));
    }
    if comment.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("comment must not contain control characters".into());
    }
    Ok(())
}

/// A new public token id: 64 random hex digits, unrelated to the value or its digest.
pub fn new_token_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Whether a string has the shape of a token id (so a malformed one is a plain "not found").
pub fn is_token_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_databricks_shape() {
        let t = TokenValue::generate();
        assert_eq!(t.expose().len(), 36);
        assert!(TokenValue::parse(t.expose()).is_some());
        assert_ne!(t, TokenValue::generate());
    }

    #[test]
    fn parse_refuses_anything_but_the_exact_format() {
        for bad in [
            "",
            "dapi",
            "dapi0123456789abcdef0123456789abcde",
            "dapi0123456789abcdef0123456789abcdef0",
            "dapi0123456789ABCDEF0123456789abcdef",
            "xapi0123456789abcdef0123456789abcdef",
            "dosa0123456789abcdef0123456789abcdef",
            "doat0123456789abcdef0123456789abcdef0",
            "dapi0123456789abcdef0123456789abcdeg",
        ] {
            assert!(TokenValue::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn each_kind_reads_back_as_itself() {
        for kind in TokenKind::ALL {
            let t = TokenValue::generate_kind(kind);
            assert_eq!(TokenValue::parse(t.expose()).map(|p| p.kind()), Some(kind));
            assert_eq!(t.digest().kind(), kind);
        }
        assert!(TokenValue::generate_kind(TokenKind::OAuthSecret).expose().starts_with("dose"));
    }

    #[test]
    fn equality_compares_the_whole_value() {
        let t = TokenValue::generate();
        assert_eq!(t, t.clone());
        let mut other = t.expose().to_owned();
        let last = if other.ends_with('0') { "1" } else { "0" };
        other.replace_range(35.., last);
        assert_ne!(t, TokenValue::parse(&other).expect("well formed"));
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let t = TokenValue::generate();
        assert!(!format!("{t:?} {t}").contains(t.expose()));
    }

    #[test]
    fn lifetimes() {
        assert_eq!(lifetime_millis(None, None), Ok(None));
        assert_eq!(lifetime_millis(Some(1_209_600), None), Ok(Some(1_209_600_000)));
        assert_eq!(lifetime_millis(None, Some(60)), Ok(Some(60_000)), "the maximum is the default");
        for bad in [0, -1, MAX_LIFETIME_SECONDS + 1, i64::MAX] {
            assert!(lifetime_millis(Some(bad), None).is_err(), "{bad}");
        }
        let err = lifetime_millis(Some(61), Some(60)).unwrap_err();
        assert!(err.contains("maximum token lifetime of 60 seconds"), "{err}");
    }

    #[test]
    fn comments() {
        assert!(validate_comment("Partner Connect").is_ok());
        assert!(validate_comment(&"x".repeat(MAX_COMMENT_LEN + 1)).is_err());
        assert!(validate_comment("a\u{0}b").is_err());
    }

    #[test]
    fn digest_is_sha256_hex() {
        let t = TokenValue::parse("dapi0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            t.digest().as_str(),
            "033a260745662d058cf6e77ffcbc2de0fea7ec786055e23efe2dfd3e6dd7a85e"
        );
    }
}
