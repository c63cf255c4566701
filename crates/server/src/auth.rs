//! Authentication on every API call: `Authorization: Bearer <token>`, or HTTP Basic with the
//! token as password (what `curl --netrc` sends, login `token` or a user name).

use crate::AppState;
use crate::error::{ApiError, Envelope};
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};
use base64::Engine;
use patchbay_core::access::{Caller, WorkspaceAdmin};
use patchbay_core::jwt;
use patchbay_core::token::{TokenDigest, TokenValue};
use patchbay_store::{Bearer, PrincipalRecord};
use std::sync::Arc;

/// An authenticated call: the application it was made to, and who made it.
pub struct Authenticated {
    pub state: AppState,
    pub caller: Caller,
}

/// An authenticated call by a workspace admin: what every admin-only write requires.
pub struct Admin {
    pub state: AppState,
    pub admin: WorkspaceAdmin,
}

const NO_CREDENTIAL: &str = "Credential was not sent or was of an unsupported type for this API.";
const INVALID_TOKEN: &str = "Invalid access token.";

/// An authenticated caller with its own record, as `/Me` shows it: one look at the store for
/// both.
pub struct AuthenticatedSelf(pub Caller, pub Arc<PrincipalRecord>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state, async |bearer| {
            Ok(state.store.authenticate_bearer(bearer).await?.map(|c| (c, ())))
        })
        .await?;
        Ok(Authenticated { state: state.clone(), caller: caller.0 })
    }
}

impl FromRequestParts<AppState> for AuthenticatedSelf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (caller, record) = authenticate(parts, state, async |bearer| {
            state.store.authenticate_bearer_self(bearer).await
        })
        .await?;
        Ok(AuthenticatedSelf(caller, record))
    }
}

/// Checks the request's token with `lookup`, which finds its caller and whatever else is
/// wanted with it, then counts the request against the token's limits (only a real token is
/// counted: [`crate::rate_limit`]); any failure is an error in the request's envelope. A token
/// is a personal access token, or an OAuth access token (a JWT, checked against the
/// workspace's issuer).
async fn authenticate<T>(
    parts: &Parts,
    state: &AppState,
    lookup: impl AsyncFnOnce(Bearer<'_>) -> patchbay_store::Result<Option<(Caller, T)>>,
) -> Result<(Caller, T), ApiError> {
    let envelope = Envelope::for_request(&parts.uri, &parts.extensions);
    let fail = |message: &str| ApiError::unauthenticated(message).in_envelope(envelope);
    let presented = presented_token(&parts.headers).ok_or_else(|| fail(NO_CREDENTIAL))?;
    let (digest, found) = if let Some(token) = TokenValue::parse(&presented) {
        let digest = token.digest();
        let found = lookup(Bearer::Token(&digest)).await;
        (digest, found)
    } else if jwt::looks_like_jwt(&presented) {
        let digest = TokenDigest::of_jwt(&presented);
        let issuer = crate::oauth::token_issuer(state);
        let found = lookup(Bearer::Jwt(&presented, &digest, &issuer)).await;
        (digest, found)
    } else {
        return Err(fail(INVALID_TOKEN));
    };
    let found = found
        .map_err(|e| ApiError::from(e).in_envelope(envelope))?
        .ok_or_else(|| fail(INVALID_TOKEN))?;
    crate::request_log::record_principal(&parts.extensions, found.0.principal_id);
    crate::rate_limit::admit(&parts.extensions, &digest, envelope)?;
    Ok(found)
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated { state, caller } =
            Authenticated::from_request_parts(parts, state).await?;
        caller.require_admin().map(|admin| Admin { state, admin }).map_err(|forbidden| {
            ApiError::forbidden(forbidden.0)
                .in_envelope(Envelope::for_request(&parts.uri, &parts.extensions))
        })
    }
}

/// The token in the `Authorization` header, if the header has a scheme we accept.
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.to_owned())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_login, password) = decoded.split_once(':')?;
        Some(password.to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn bearer_and_netrc_basic_are_accepted() {
        assert_eq!(presented_token(&headers("Bearer dapiX")).as_deref(), Some("dapiX"));
        // curl --netrc with `login token password dapiX`
        assert_eq!(presented_token(&headers("Basic dG9rZW46ZGFwaVg=")).as_deref(), Some("dapiX"));
    }

    #[test]
    fn other_schemes_and_garbage_are_not_credentials() {
        for v in ["Digest abc", "Bearer", "Basic !!!", "Basic Zm9v"] {
            assert_eq!(presented_token(&headers(v)), None, "{v}");
        }
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }
}
