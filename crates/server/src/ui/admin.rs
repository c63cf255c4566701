//! Admin pages: the workspace's service principals and tokens, searchable, deletable after a
//! confirmation. Every page and action requires the `WorkspaceAdmin` proof, as the API does.

use super::form::Fields;
use super::session::PostForm;
use super::{Page, Session, UiError, render, see_other, when};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::Uri;
use maud::{Markup, html};
use patchbay_core::access::WorkspaceAdmin;
use patchbay_core::principal::PrincipalKind;
use patchbay_core::{PrincipalId, WorkspaceId};
use patchbay_store::{ListQuery, PrincipalRecord, TokenFilter, TokenRecord};
use std::collections::HashMap;

async fn principals(
    state: &AppState,
    workspace_id: WorkspaceId,
    kind: PrincipalKind,
) -> Result<Vec<PrincipalRecord>, UiError> {
    let page = state
        .store
        .list_principals(
            workspace_id,
            kind,
            &ListQuery {
                filter: None,
                sort_by: None,
                descending: false,
                start_index: 1,
                count: 10_000,
            },
        )
        .await?;
    Ok(page.items)
}

fn sp_name(p: &PrincipalRecord) -> String {
    p.attributes
        .display_name
        .clone()
        .or_else(|| p.attributes.application_id.clone())
        .unwrap_or_default()
}

fn matches(haystack: &[&str], q: &str) -> bool {
    q.is_empty() || haystack.iter().any(|h| h.to_lowercase().contains(q))
}

fn search_form(action: &str, label: &str, q: &str) -> Markup {
    html! {
        form.filters method="get" action=(action) role="search" {
            div.field {
                label for="q" { (label) }
                input #q type="search" name="q" value=(q) autocomplete="off";
            }
            button type="submit" { "Search" }
        }
    }
}

/// `GET /admin/service-principals`.
pub async fn service_principals(State(state): State<AppState>, session: Session, uri: Uri) -> Page {
    let admin = session.admin()?;
    let q = Fields::from_query(uri.query());
    let search = q.get("q").unwrap_or_default().to_lowercase();
    let all = principals(&state, admin.workspace_id(), PrincipalKind::ServicePrincipal).await?;
    let shown: Vec<_> = all
        .iter()
        .filter(|p| {
            matches(
                &[&sp_name(p), p.attributes.application_id.as_deref().unwrap_or_default()],
                &search,
            )
        })
        .collect();
    let page = html! {
        h1 { "Service principals" }
        (search_form("/admin/service-principals", "Search by name", q.get("q").unwrap_or_default()))
        @if shown.is_empty() {
            p.empty { "No service principal matches." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Application ID" } th scope="col" { "Active" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for p in &shown {
                            tr {
                                td { (sp_name(p)) }
                                td { code { (p.attributes.application_id.as_deref().unwrap_or_default()) } }
                                td { @if p.attributes.active.unwrap_or(true) { "yes" } @else { "no" } }
                                td { a.button.small.danger href=(format!("/admin/service-principals/{}/delete", p.id)) { "Delete…" span.visually-hidden { " " (sp_name(p)) } } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render("Service principals", &session, page))
}

async fn service_principal(
    state: &AppState,
    admin: &WorkspaceAdmin,
    id: &str,
) -> Result<PrincipalRecord, UiError> {
    let id = id
        .parse()
        .map(PrincipalId::new)
        .map_err(|_| UiError::bad_request("No such service principal."))?;
    state
        .store
        .get_principal(admin.workspace_id(), PrincipalKind::ServicePrincipal, id)
        .await?
        .ok_or_else(|| {
            UiError::bad_request("No such service principal: it may be deleted already.")
        })
}

/// `GET /admin/service-principals/{id}/delete`: what goes with it.
pub async fn confirm_delete_principal(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Page {
    let admin = session.admin()?;
    let p = service_principal(&state, &admin, &id).await?;
    let tokens = state
        .store
        .list_tokens(
            admin.workspace_id(),
            &TokenFilter { owner_id: Some(p.id), ..TokenFilter::default() },
        )
        .await?;
    let used_by: Vec<String> = state
        .store
        .connections(admin.workspace_id())
        .await?
        .into_iter()
        .filter(|c| c.service_principal_id == Some(p.id))
        .map(|c| c.partner_id)
        .collect();
    let page = html! {
        h1 { "Delete the service principal " (sp_name(&p)) "?" }
        section.card.danger-zone {
            p { "This deletes the service principal " code { (p.attributes.application_id.as_deref().unwrap_or_default()) } " and every token it owns:" }
            @if tokens.is_empty() { p.muted { "It owns no token." } }
            ul { @for t in &tokens { li { "token " code { (t.token_id) } " — " (t.comment) } } }
            @if !used_by.is_empty() {
                p.error role="alert" { "The Partner Connect connection to " (used_by.join(", ")) " uses it: that partner stops working, and its tile shows the connection as broken." }
            }
            p { strong { "This cannot be undone." } }
            (delete_or_cancel(&session, &format!("/admin/service-principals/{}/delete", p.id), "Delete service principal", "/admin/service-principals"))
        }
    };
    Ok(render("Delete service principal", &session, page))
}

/// The end of a deletion's warning: the form that deletes (posted to `action`), or back to
/// `back`.
fn delete_or_cancel(session: &Session, action: &str, label: &str, back: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(session.csrf);
            button.danger type="submit" { (label) }
        }
        " "
        a.button href=(back) { "Cancel" }
    }
}

/// `POST /admin/service-principals/{id}/delete`.
pub async fn delete_principal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: PostForm,
) -> Page {
    let admin = form.session.admin()?;
    let p = service_principal(&state, &admin, &id).await?;
    state.store.delete_principal(&admin, PrincipalKind::ServicePrincipal, p.id).await?;
    Ok(see_other("/admin/service-principals"))
}

/// `GET /admin/tokens`: every token of the workspace, by owner. Never a value.
pub async fn tokens(State(state): State<AppState>, session: Session, uri: Uri) -> Page {
    let admin = session.admin()?;
    let ws = admin.workspace_id();
    let q = Fields::from_query(uri.query());
    let search = q.get("q").unwrap_or_default().to_lowercase();
    let mut owners: HashMap<PrincipalId, String> = HashMap::new();
    for p in principals(&state, ws, PrincipalKind::User).await? {
        owners.insert(p.id, p.attributes.user_name.clone().unwrap_or_default());
    }
    for p in principals(&state, ws, PrincipalKind::ServicePrincipal).await? {
        owners.insert(p.id, sp_name(&p));
    }
    let all = state.store.list_tokens(ws, &TokenFilter::default()).await?;
    let owner = |t: &TokenRecord| owners.get(&t.owner_id).cloned().unwrap_or_default();
    let shown: Vec<&TokenRecord> = all
        .iter()
        .filter(|t| matches(&[&owner(t), &t.comment, &t.created_by_username, &t.token_id], &search))
        .collect();
    let page = html! {
        h1 { "Tokens" }
        p.lead { "Every personal access token of the workspace. Values are never shown: only their IDs." }
        (search_form("/admin/tokens", "Search by owner or comment", q.get("q").unwrap_or_default()))
        @if shown.is_empty() {
            p.empty { "No token matches." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Token ID" } th scope="col" { "Owner" } th scope="col" { "Comment" } th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for t in &shown {
                            tr {
                                td { code { (t.token_id) } }
                                td { (owner(t)) }
                                td { (t.comment) }
                                td { (when(t.creation_time)) }
                                td { @if t.expiry_time < 0 { "never" } @else { (when(t.expiry_time)) } }
                                td {
                                    @if t.token_id == session.caller.token_id {
                                        span.muted { "this session" }
                                    } @else {
                                        a.button.small.danger href=(format!("/admin/tokens/{}/delete", t.token_id)) { "Delete…" span.visually-hidden { " token " (t.token_id) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render("Tokens", &session, page))
}

async fn token(
    state: &AppState,
    admin: &WorkspaceAdmin,
    token_id: &str,
) -> Result<TokenRecord, UiError> {
    state
        .store
        .get_token(admin.workspace_id(), token_id)
        .await?
        .ok_or_else(|| UiError::bad_request("No such token: it may be deleted already."))
}

/// `GET /admin/tokens/{token_id}/delete`.
pub async fn confirm_delete_token(
    State(state): State<AppState>,
    session: Session,
    Path(token_id): Path<String>,
) -> Page {
    let admin = session.admin()?;
    let t = token(&state, &admin, &token_id).await?;
    let page = html! {
        h1 { "Delete token " code { (t.token_id) } "?" }
        section.card.danger-zone {
            p { "Comment: " (t.comment) ". Created " (when(t.creation_time)) " by " (t.created_by_username) "." }
            p { "Whatever uses this token stops working at once. " strong { "This cannot be undone." } }
            (delete_or_cancel(&session, &format!("/admin/tokens/{}/delete", t.token_id), "Delete token", "/admin/tokens"))
        }
    };
    Ok(render("Delete token", &session, page))
}

/// `POST /admin/tokens/{token_id}/delete`.
pub async fn delete_token(
    State(state): State<AppState>,
    Path(token_id): Path<String>,
    form: PostForm,
) -> Page {
    let admin = form.session.admin()?;
    let t = token(&state, &admin, &token_id).await?;
    state.store.delete_token(&admin, &t.token_id).await?;
    Ok(see_other("/admin/tokens"))
}
