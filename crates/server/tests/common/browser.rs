//! A browser's side of the sign-in and consent pages: form posts, cookies and redirects.

use super::{Reply, TestApp};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, header};

/// What a browser sends: `method` on `path`, with a `cookie` (or none) and a URL-encoded `form`
/// (or none) posted from the workspace's own origin.
pub async fn browse(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    form: Option<String>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let req = match form {
        Some(f) => req
            .header(header::ORIGIN, app.public_url.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f)),
        None => req.body(Body::empty()),
    }
    .unwrap();
    app.send(req).await
}

/// Where an answer redirects to, if it does (its `Location`).
pub fn redirect(headers: &HeaderMap) -> Option<String> {
    headers.get(header::LOCATION).map(|v| v.to_str().expect("a Location in ASCII").to_owned())
}

/// Where an answer redirects to; the test fails if it does not redirect.
#[track_caller]
pub fn location(headers: &HeaderMap) -> String {
    redirect(headers).expect("the answer redirects (it has a Location)")
}

/// The `name=value` of the cookie `name` an answer sets, if it sets one.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::SET_COOKIE).iter().find_map(|v| {
        let pair = v.to_str().ok()?.split(';').next()?.trim().to_owned();
        pair.starts_with(&format!("{name}=")).then_some(pair)
    })
}

/// A public client's POST of `form` to the token endpoint (`/oidc/v1/token`).
pub async fn token_request(app: &TestApp, form: &str) -> Reply {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/oidc/v1/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    app.send(req).await
}
