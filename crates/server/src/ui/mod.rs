//! The Partner Connect page: server-rendered HTML (maud, escaped by construction) over the same
//! flows as the JSON API. Log in with a personal access token; the browser then holds only a
//! session cookie. Every form carries a CSRF token and every POST is checked for its origin.
//! No CDN and no build step: the CSS, the little JavaScript and the icons are compiled in.

mod admin;
mod form;
mod pages;
pub(crate) mod session;

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
pub use session::{SESSION_COOKIE, Session};

/// The page's routes. None of them is under `/api`, so the API and its fallback are untouched.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", axum::routing::post(session::logout))
        .route("/partners/{partner_id}", get(pages::partner))
        .route("/partners/{partner_id}/connect", axum::routing::post(pages::connect))
        .route("/partners/{partner_id}/sign-in", axum::routing::post(pages::sign_in))
        .route("/partners/{partner_id}/rotate-token", axum::routing::post(pages::rotate))
        .route("/partners/{partner_id}/delete", get(pages::confirm_delete).post(pages::delete))
        .route("/admin/service-principals", get(admin::service_principals))
        .route(
            "/admin/service-principals/{id}/delete",
            get(admin::confirm_delete_principal).post(admin::delete_principal),
        )
        .route("/admin/tokens", get(admin::tokens))
        .route(
            "/admin/tokens/{token_id}/delete",
            get(admin::confirm_delete_token).post(admin::delete_token),
        )
        .route("/ui/style.css", get(|| asset("text/css", STYLE)))
        .route("/ui/app.js", get(|| asset("text/javascript", SCRIPT)))
        .route("/ui/logo.svg", get(|| asset("image/svg+xml", LOGO)))
        .route("/ui/check.svg", get(|| asset("image/svg+xml", CHECK)))
        .route("/ui/warning.svg", get(|| asset("image/svg+xml", WARNING)))
        .layer(middleware::from_fn(security_headers))
}

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
const LOGO: &str = include_str!("assets/logo.svg");
const CHECK: &str = include_str!("assets/check.svg");
const WARNING: &str = include_str!("assets/warning.svg");

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body)
        .into_response()
}

/// The content security policy of every page: only this origin's script, style and images,
/// no inline script, no framing, forms post only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Security headers on every page and asset; pages are never cached (they show who is logged
/// in and CSRF tokens).
async fn security_headers(req: Request, next: Next) -> Response {
    secured(next.run(req).await)
}

/// The site's security headers on `response`: the CSP (`form-action 'self'`), no framing (so
/// no button can be clicked through another site's page), no sniffing, same-origin referrers,
/// and `no-store` unless the response says how it may be cached. The consent page, which is
/// served outside these routes, puts on the same.
pub(crate) fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Why a page could not be shown: not logged in (go to the login page), or an error in words.
#[derive(Debug)]
pub enum UiError {
    Login,
    Page { status: StatusCode, title: &'static str, message: String },
}

impl UiError {
    pub fn forbidden(message: impl Into<String>) -> UiError {
        UiError::Page {
            status: StatusCode::FORBIDDEN,
            title: "Not allowed",
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> UiError {
        UiError::Page {
            status: StatusCode::BAD_REQUEST,
            title: "That did not work",
            message: message.into(),
        }
    }

    /// A form without its CSRF token, with a wrong one, or posted from another site.
    pub fn forged() -> UiError {
        UiError::forbidden(
            "This form did not come from this page, or it has expired. Go back, reload the page and try again.",
        )
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> UiError {
        let title = match e.status.as_u16() {
            400 => "That did not work",
            401 => "Please log in again",
            403 => "Not allowed",
            404 => "Not found",
            409 => "Not now",
            502 => "The partner did not answer as expected",
            _ => "Something went wrong",
        };
        UiError::Page { status: e.status, title, message: e.message }
    }
}

impl From<patchbay_store::StoreError> for UiError {
    fn from(e: patchbay_store::StoreError) -> UiError {
        ApiError::from(e).into()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Login => {
                (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")], "Log in first.")
                    .into_response()
            }
            UiError::Page { status, title, message } => {
                let body = html! {
                    h1 { (title) }
                    p.error role="alert" { (message) }
                    p { a href="/" { "Back to Partner Connect" } }
                };
                (status, Html(layout(title, None, body).into_string())).into_response()
            }
        }
    }
}

pub type Page = Result<Response, UiError>;

/// A whole page: the header (with the user, the admin badge and log out when logged in) and
/// the main content.
pub fn layout(title: &str, session: Option<&Session>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · patchbay" }
                link rel="icon" href="/ui/logo.svg" type="image/svg+xml";
                link rel="stylesheet" href="/ui/style.css";
                script src="/ui/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" {
                        img src="/ui/logo.svg" alt="" width="28" height="28";
                        span { "patchbay" }
                    }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            a href="/" { "Partner Connect" }
                            @if s.caller.is_admin {
                                a href="/admin/service-principals" { "Service principals" }
                                a href="/admin/tokens" { "Tokens" }
                            }
                        }
                        div.who {
                            span.name { (s.caller.name) }
                            @if s.caller.is_admin {
                                span.admin-badge title="Workspace admin" { "Admin" }
                            }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button.linkish type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main { (main) }
            }
        }
    }
}

/// A rendered page with status 200.
pub fn render(title: &str, session: &Session, main: Markup) -> Response {
    Html(layout(title, Some(session), main).into_string()).into_response()
}

/// 303 to a page of this site.
pub fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// An epoch-millisecond time for people: `2026-05-01 14:03 UTC`.
pub fn when(millis: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000) {
        Ok(t) => format!(
            "{}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => millis.to_string(),
    }
}
