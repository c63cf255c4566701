//! Log in, log out and the session behind every page.
//!
//! Logging in with a personal access token creates a session: a random 256-bit id in an
//! `HttpOnly; SameSite=Strict` cookie, of which the store keeps only the SHA-256 digest, bound
//! to the token's id (never its value). Every request re-checks that token, so deleting it ends
//! the session at once. The CSRF token of a session is derived from its id, so it is random per
//! session and needs no storage; forms send it back and it is compared in constant time.

use super::form::Fields;
use super::{Page, UiError, layout, see_other};
use crate::AppState;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse};
use maud::html;
use patchbay_core::WorkspaceId;
use patchbay_core::access::{Caller, WorkspaceAdmin};
use patchbay_core::token::{TokenKind, TokenValue};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie.
pub const SESSION_COOKIE: &str = "patchbay_session";
/// The login form's own CSRF cookie (there is no session yet to bind a token to).
const LOGIN_COOKIE: &str = "patchbay_login";
/// How long a session lasts at most; it ends earlier when its token dies.
const SESSION_MILLIS: i64 = 8 * 3600 * 1000;
/// Largest accepted form.
const MAX_FORM: usize = 64 * 1024;

/// A logged-in user of the page.
pub struct Session {
    pub caller: Caller,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// What the store knows the session by.
    digest: String,
}

impl Session {
    /// The session's caller as a workspace admin, which every admin page and action requires;
    /// anyone else gets the page's 403.
    pub fn admin(&self) -> Result<WorkspaceAdmin, UiError> {
        self.caller.clone().require_admin().map_err(|f| UiError::forbidden(f.0))
    }
}

fn digest(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

fn csrf_of(session_id: &str) -> String {
    hex::encode(Sha256::digest(format!("patchbay-ui-csrf\0{session_id}").as_bytes()))
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

fn well_formed(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The value of a cookie the browser sent.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict`, and `Secure` when the site is served
/// over HTTPS.
fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> HeaderValue {
    let mut c =
        format!("{name}={value}; HttpOnly; SameSite=Strict; Path={path}; Max-Age={max_age}");
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are hex")
}

/// The workspace's public URL, which says whether the site is served over HTTPS.
async fn public_url(state: &AppState, workspace_id: WorkspaceId) -> Result<String, UiError> {
    Ok(state.store.workspace_public_url(workspace_id).await?)
}

fn is_https(public_url: &str) -> bool {
    public_url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// `scheme://authority` of a URL, lower-cased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// A POST must come from this site: its `Origin` (or, without one, its `Referer`) is the
/// public URL's origin or the origin of the host the browser asked for.
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(public) = origin_of(public_url) else {
        return false;
    };
    let scheme = public.split("://").next().unwrap_or("http");
    let by_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("{scheme}://{h}").to_ascii_lowercase());
    let allowed = |o: &str| o == public || by_host.as_deref() == Some(o);
    let sent = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if let Some(origin) = sent(header::ORIGIN) {
        return allowed(&origin.to_ascii_lowercase());
    }
    sent(header::REFERER).and_then(origin_of).is_some_and(|o| allowed(&o))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        let id = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|id| well_formed(id))
            .ok_or(UiError::Login)?;
        let caller = state.store.ui_session_caller(&digest(&id)).await?.ok_or(UiError::Login)?;
        crate::request_log::record_principal(&parts.extensions, caller.principal_id);
        Ok(Session { csrf: csrf_of(&id), digest: digest(&id), caller })
    }
}

/// A posted form of a logged-in user, from this site, with the session's CSRF token. Every
/// POST of the page takes one, so none can skip the checks.
pub struct PostForm {
    pub session: Session,
    pub fields: Fields,
}

async fn read_form(req: Request, state: &AppState) -> Result<Fields, UiError> {
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|_| UiError::bad_request("The form is too large."))?;
    if bytes.len() > MAX_FORM {
        return Err(UiError::bad_request("The form is too large."));
    }
    Ok(Fields::parse(&bytes))
}

fn csrf_matches(sent: Option<&str>, expected: &str) -> bool {
    let sent = sent.unwrap_or_default();
    !expected.is_empty() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

impl FromRequest<AppState> for PostForm {
    type Rejection = UiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, UiError> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let url = public_url(state, session.caller.workspace_id).await?;
        if !same_origin(&parts.headers, &url) {
            return Err(UiError::forged());
        }
        let fields = read_form(Request::from_parts(parts, body), state).await?;
        if !csrf_matches(fields.get("csrf"), &session.csrf) {
            return Err(UiError::forged());
        }
        Ok(PostForm { session, fields })
    }
}

/// Where a login may send the browser on: only back to a browser sign-in of the CLI or an SDK
/// (`/oidc/v1/authorize?…`), never elsewhere (an open redirect); `/` otherwise.
pub fn after_login(next: Option<&str>) -> &str {
    next.filter(|n| {
        n.starts_with("/oidc/v1/authorize?") && !n.contains(['\\', '\r', '\n']) && n.len() <= 4096
    })
    .unwrap_or("/")
}

/// `GET /login`: the token form, or where the logged-in user was going (`?next=`).
pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Page {
    let next: Option<String> = query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "next").map(|(_, v)| v.into_owned())
    });
    let next = after_login(next.as_deref());
    let mut parts = Request::new(()).into_parts().0;
    parts.headers = headers;
    if Session::from_request_parts(&mut parts, &state).await.is_ok() {
        return Ok(see_other(next));
    }
    login_form(&state, StatusCode::OK, None, next).await
}

async fn login_form(
    state: &AppState,
    status: StatusCode,
    problem: Option<&str>,
    next: &str,
) -> Page {
    let url = public_url(state, state.settings().default_workspace_id).await?;
    let csrf = random_hex();
    let body = html! {
        div.narrow {
            h1 { "Log in to Partner Connect" }
            p { "Paste a personal access token of this workspace. Only a session cookie is kept in this browser; the token itself is not stored." }
            @if let Some(p) = problem {
                p.error role="alert" { (p) }
            }
            form.card method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                @if next != "/" { input type="hidden" name="next" value=(next); }
                label for="token" { "Personal access token" }
                input #token type="password" name="token" autocomplete="off" required
                    spellcheck="false" placeholder="dapi…";
                button.primary type="submit" { "Log in" }
            }
        }
    };
    let mut response = (status, Html(layout("Log in", None, body).into_string())).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &csrf, "/login", 3600, is_https(&url)),
    );
    Ok(response)
}

/// `POST /login`: checks the token and starts a session.
pub async fn login(State(state): State<AppState>, req: Request) -> Page {
    let url = public_url(&state, state.settings().default_workspace_id).await?;
    if !same_origin(req.headers(), &url) {
        return Err(UiError::forged());
    }
    let expected = cookie(req.headers(), LOGIN_COOKIE).unwrap_or_default();
    let fields = read_form(req, &state).await?;
    if !csrf_matches(fields.get("csrf"), &expected) {
        return Err(UiError::forged());
    }
    // Only a personal access token: a session re-checks the token it started with in the
    // tokens table, where OAuth access tokens are not.
    let personal =
        fields.get("token").and_then(TokenValue::parse).filter(|t| t.kind() == TokenKind::Personal);
    let caller = match personal {
        Some(token) => state.store.authenticate(&token.digest()).await.map_err(ApiError::from)?,
        None => None,
    };
    let Some(caller) = caller else {
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid: it may be mistyped, expired or deleted."),
            after_login(fields.get("next")),
        )
        .await;
    };
    let id = random_hex();
    state
        .store
        .create_ui_session(&caller, &digest(&id), state.now_millis() + SESSION_MILLIS)
        .await?;
    tracing::info!(principal_id = caller.principal_id.get(), "ui session started");
    let secure = is_https(&url);
    let mut response = match after_login(fields.get("next")) {
        "/" => see_other("/"),
        // Back to a browser sign-in, which ends in a redirect to the client's loopback port:
        // not as this form's redirect, which the page's `form-action 'self'` would stop, but
        // as a new navigation from a page of its own.
        next => Html(
            layout(
                "Signing in",
                None,
                html! {
                    meta http-equiv="refresh" content=(format!("0;url={next}"));
                    div.narrow {
                        h1 { "Signing in" }
                        p { a href=(next) { "Continue to the application that asked to sign in" } }
                    }
                },
            )
            .into_string(),
        )
        .into_response(),
    };
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, "/", SESSION_MILLIS / 1000, secure),
    );
    headers.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", "/login", 0, secure));
    Ok(response)
}

/// `POST /logout`: ends the session here and in the browser.
pub async fn logout(State(state): State<AppState>, form: PostForm) -> Page {
    let url = public_url(&state, form.session.caller.workspace_id).await?;
    state.store.delete_ui_session(&form.session.digest).await?;
    let mut response = see_other("/login");
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", "/", 0, is_https(&url)));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn posts_must_come_from_this_site() {
        let url = "http://127.0.0.1:8080";
        assert!(same_origin(&headers(&[(header::ORIGIN, "http://127.0.0.1:8080")]), url));
        assert!(same_origin(
            &headers(&[
                (header::ORIGIN, "http://localhost:8080"),
                (header::HOST, "localhost:8080")
            ]),
            url
        ));
        assert!(same_origin(
            &headers(&[(header::REFERER, "http://127.0.0.1:8080/partners/x")]),
            url
        ));
        for bad in [
            headers(&[(header::ORIGIN, "http://evil.example")]),
            headers(&[(header::ORIGIN, "null")]),
            headers(&[(header::REFERER, "http://127.0.0.1:8080.evil.example/")]),
            headers(&[(header::HOST, "127.0.0.1:8080")]),
            HeaderMap::new(),
        ] {
            assert!(!same_origin(&bad, url), "{bad:?}");
        }
    }

    #[test]
    fn a_login_goes_on_only_to_a_browser_sign_in() {
        assert_eq!(
            after_login(Some("/oidc/v1/authorize?client_id=databricks-cli")),
            "/oidc/v1/authorize?client_id=databricks-cli"
        );
        for elsewhere in [
            None,
            Some("https://evil.example.com/"),
            Some("//evil.example.com/oidc/v1/authorize?"),
            Some("/admin/tokens"),
            Some("/oidc/v1/authorize?x=\r\nSet-Cookie:a"),
        ] {
            assert_eq!(after_login(elsewhere), "/", "{elsewhere:?}");
        }
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let h = headers(&[(header::COOKIE, "a=1; patchbay_session_x=2; patchbay_session=abc")]);
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn csrf_tokens_differ_from_the_stored_digest_and_compare_exactly() {
        let id = random_hex();
        assert_ne!(csrf_of(&id), digest(&id));
        assert!(csrf_matches(Some(&csrf_of(&id)), &csrf_of(&id)));
        assert!(!csrf_matches(None, &csrf_of(&id)));
        assert!(!csrf_matches(Some(""), ""));
    }
}
