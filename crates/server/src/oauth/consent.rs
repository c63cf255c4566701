//! The consent page of `/oidc/v1/authorize` for partners' U2M apps: before a partner's app
//! gets its first code for a user, the user is asked, on a page of the workspace, whether the
//! partner may act as them. Without it any page could send a signed-in user's browser to the
//! app's authorize link and hand the partner a token of theirs. The answer is remembered per
//! user and app (the store's `oauth_consents`); it dies with the app, that is with the
//! connection. The CLI's and SDKs' own client asks no consent.
//!
//! The form posts back to the same authorize URL with the session's CSRF token, from this
//! site only. Its answer cannot be a redirect to the partner: the page's `form-action 'self'`
//! stops a form's redirect to another site (as for the login page, `ui/session.rs`). So both
//! answers are a page of their own that moves on: Allow to the authorize link again (which
//! now finds the consent and redirects with a code, so the code only ever travels in a
//! `Location`), Deny to the partner's callback with `error=access_denied`.

use super::authorize::{Checked, check, redirect_location, refusal, refused};
use crate::AppState;
use crate::error::ApiError;
use crate::ui::secured;
use crate::ui::session::{PostForm, Session};
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use patchbay_store::OAuthApp;

/// The page asking the signed-in user whether the partner of `app` may act as them.
pub(super) async fn page(
    state: &AppState,
    request: &Checked,
    app: &OAuthApp,
    session: &Session,
) -> Response {
    let partner = partner_name(state, app).await;
    let action = format!("/oidc/v1/authorize?{}", request.query);
    let back_to = origin_of(&request.redirect_uri);
    let body = html! {
        div.narrow {
            h1 { "Allow " (partner) " to act as you?" }
            div.card {
                p {
                    "Allow " strong { (partner) } " to act as you ("
                    strong { (session.caller.name) } ") in this workspace?"
                }
                p {
                    "It will be able to use this workspace's APIs with your permissions until the workspace's connection to "
                    (partner) " is deleted. Your answer is sent to " code { (back_to) } "."
                }
                form.actions method="post" action=(action) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button.primary type="submit" name="decision" value="allow" { "Allow" }
                    button type="submit" name="decision" value="deny" { "Deny" }
                }
            }
        }
    };
    secured(
        Html(crate::ui::layout("Allow access", Some(session), body).into_string()).into_response(),
    )
}

/// `POST /oidc/v1/authorize?…`: the user's answer on the consent page, for the same request
/// (checked again from its query). A form without the page's CSRF token, or from another site,
/// is refused before anything is read.
pub(super) async fn decide(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    form: PostForm,
) -> Response {
    let request = match check(&state, query).await {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    if let Some(answer) = refusal(&request, &form.session) {
        return answer;
    }
    let Some(app) = &request.app else {
        return refused("The Databricks CLI and SDKs sign in without a consent page.");
    };
    let (decision, to) = match form.fields.get("decision") {
        Some("allow") => {
            match state.store.record_consent(&form.session.caller, &app.client_id).await {
                Ok(true) => (
                    "partner app allowed to act as the user",
                    format!("/oidc/v1/authorize?{}", request.query),
                ),
                Ok(false) => return refused("The partner's app no longer exists."),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        Some("deny") => (
            "partner app denied by the user",
            redirect_location(
                &request.redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "The user denied the partner access."),
                ],
                request.state.as_deref(),
            ),
        ),
        _ => return refused("Answer with decision=allow or decision=deny."),
    };
    tracing::info!(
        principal_id = form.session.caller.principal_id.get(),
        client_id = app.client_id,
        "{decision}"
    );
    onward(&form.session, &to)
}

/// A page that moves the browser on to `to` as a navigation of its own (not the form's
/// redirect, which `form-action 'self'` would stop for another site).
fn onward(session: &Session, to: &str) -> Response {
    let body = html! {
        meta http-equiv="refresh" content=(format!("0;url={to}"));
        div.narrow {
            h1 { "Returning to the application" }
            p { a href=(to) { "Continue to the application that asked" } }
        }
    };
    secured(Html(crate::ui::layout("Returning", Some(session), body).into_string()).into_response())
}

/// The partner's name as its tile shows it; its id if the catalog cannot say.
async fn partner_name(state: &AppState, app: &OAuthApp) -> String {
    match crate::partner_connect::catalog::partner(state, app.workspace_id, &app.partner_id).await {
        Ok(p) => p.spec.name,
        Err(_) => app.partner_id.clone(),
    }
}

/// `scheme://host[:port]` of the partner's callback: where the answer goes.
fn origin_of(uri: &str) -> &str {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).map_or(uri.len(), |i| scheme.len() + 3 + i);
            &uri[..end]
        }
        None => uri,
    }
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn the_answer_goes_to_the_callbacks_origin() {
        assert_eq!(
            origin_of("https://partner.example.com/oauth/callback?x=1"),
            "https://partner.example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:9/cb"), "http://127.0.0.1:9");
        assert_eq!(origin_of("https://p.example.com"), "https://p.example.com");
    }
}
