//! Property tests of the Unity Catalog grants model, through the grants API (`PATCH
//! /permissions/{type}/{name}`) against an in-memory model:
//!
//! - the privileges in effect for a user on a securable are exactly the union of what was
//!   granted on it and on its parents (catalog → schema → table), to the user and to every
//!   group it belongs to, nested groups included;
//! - the direct grants on each securable are exactly what the model holds, and the
//!   effective-permissions API shows each grantee's own grants there and on its parents, each
//!   with the parent it is inherited from;
//! - granting a set of privileges a principal does not hold, then revoking that set, restores
//!   every direct and effective grant exactly.
//!
//! Five grantees (three users, `g1 ∋ u1`, `g2 ∋ g1, u2`) and five securables in the Hive
//! metastore (the catalog, two schemas, a table in each). Each case starts by revoking
//! everything the grantees hold, so a failing case leaves nothing to the next one.

mod common;

use axum::http::StatusCode;
use common::{SCIM, TestApp};
use patchbay_core::PrincipalId;
use patchbay_core::catalog::{Securable, applicable_privileges};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const UC: &str = "/api/2.1/unity-catalog";
const ALL: &str = "ALL_PRIVILEGES";

/// The securables: index 0 the catalog, 1–2 schemas, 3–4 tables; `PARENT` gives the chain.
fn securables() -> Vec<Securable> {
    let c = || "hive_metastore".to_owned();
    vec![
        Securable::Catalog(c()),
        Securable::Schema(c(), "default".into()),
        Securable::Schema(c(), "s2".into()),
        Securable::Table(c(), "default".into(), "t1".into()),
        Securable::Table(c(), "s2".into(), "t2".into()),
    ]
}
const PARENT: [Option<usize>; 5] = [None, Some(0), Some(0), Some(1), Some(2)];

/// Grantee names: users by e-mail, groups by name.
const GRANTEES: [&str; 5] = ["u1@example.com", "u2@example.com", "u3@example.com", "g1", "g2"];
/// Users (grantee indexes 0–2) and the grantees whose grants reach them: themselves and
/// their groups, directly or through a nested group.
const REACHES: [&[usize]; 3] = [&[0, 3, 4], &[1, 4], &[2]];

fn chain(securable: usize) -> Vec<usize> {
    let mut out = vec![securable];
    while let Some(p) = PARENT[*out.last().expect("non-empty")] {
        out.push(p);
    }
    out
}

/// (grantee, securable) → privileges held directly.
type Model = BTreeMap<(usize, usize), BTreeSet<String>>;
/// (user, securable) → privileges in effect.
type Effective = BTreeMap<(usize, usize), BTreeSet<String>>;

/// One grants PATCH: a grantee, a securable, privileges to add and to remove.
#[derive(Debug, Clone)]
struct Change {
    grantee: usize,
    securable: usize,
    add: Vec<String>,
    remove: Vec<String>,
}

fn privileges_of(securable: usize) -> Vec<&'static str> {
    applicable_privileges(securables()[securable].securable_type(), true)
        .iter()
        .map(|p| p.as_str())
        .collect()
}

fn subset(securable: usize) -> impl Strategy<Value = Vec<String>> {
    let all = privileges_of(securable);
    let n = all.len();
    proptest::sample::subsequence(all, 0..=n)
        .prop_map(|v| v.into_iter().map(str::to_owned).collect())
}

fn change() -> impl Strategy<Value = Change> {
    (0..GRANTEES.len(), 0..5usize).prop_flat_map(|(grantee, securable)| {
        (subset(securable), subset(securable)).prop_map(move |(add, remove)| Change {
            grantee,
            securable,
            add,
            remove,
        })
    })
}

/// What a PATCH does to the model: removals first (removing `ALL_PRIVILEGES` on a Hive
/// metastore object removes every privilege there), then additions.
fn apply(model: &mut Model, c: &Change) {
    let held = model.entry((c.grantee, c.securable)).or_default();
    if c.remove.iter().any(|p| p == ALL) {
        held.clear();
    }
    for p in &c.remove {
        held.remove(p);
    }
    held.extend(c.add.iter().cloned());
}

/// The world: the app, the principal ids of the three users, and what they held before
/// the test granted anything (through the built-in groups).
struct World {
    app: TestApp,
    user_ids: [PrincipalId; 3],
    baseline: Effective,
}

async fn world() -> World {
    let app = TestApp::new().await;
    let mut ids = Vec::new();
    for name in &GRANTEES[..3] {
        ids.push(app.create_user(name).await);
    }
    let group = |name: &str, members: Vec<String>| {
        let body = json!({"displayName": name,
                          "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()});
        let app = &app;
        async move {
            let r = app.admin_post(&format!("{SCIM}/Groups"), body).await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            r.body["id"].as_str().expect("id").to_owned()
        }
    };
    let g1 = group("g1", vec![ids[0].clone()]).await;
    group("g2", vec![g1, ids[1].clone()]).await;
    let r = app
        .admin_post(
            &format!("{UC}/schemas"),
            json!({"catalog_name": "hive_metastore", "name": "s2"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for (schema, table) in [("default", "t1"), ("s2", "t2")] {
        let r = app
            .admin_post(&format!("{UC}/tables"), json!({
                    "catalog_name": "hive_metastore", "schema_name": schema, "name": table,
                    "table_type": "MANAGED", "data_source_format": "DELTA",
                    "columns": [{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0}],
                }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let mut user_ids = [PrincipalId::new(0); 3];
    for (i, name) in GRANTEES[..3].iter().enumerate() {
        user_ids[i] =
            app.store.find_user(app.workspace_id, name).await.expect("find").expect("user").id;
    }
    let mut world = World { app, user_ids, baseline: BTreeMap::new() };
    world.baseline = effective_all(&world).await;
    world
}

async fn patch(app: &TestApp, securable: usize, changes: Value) -> Result<(), TestCaseError> {
    let s = &securables()[securable];
    let path = format!("{UC}/permissions/{}/{}", s.securable_type().as_str(), s.full_name());
    let r = app.admin_patch(&path, json!({"changes": changes})).await;
    prop_assert_eq!(r.status, StatusCode::OK, "{} {:?}", path, r.body);
    Ok(())
}

async fn send(app: &TestApp, c: &Change) -> Result<(), TestCaseError> {
    patch(
        app,
        c.securable,
        json!([{"principal": GRANTEES[c.grantee], "add": c.add, "remove": c.remove}]),
    )
    .await
}

/// Revokes everything the grantees hold, on every securable.
async fn reset(app: &TestApp) -> Result<(), TestCaseError> {
    for securable in 0..5 {
        let changes: Vec<Value> =
            GRANTEES.iter().map(|g| json!({"principal": g, "remove": [ALL]})).collect();
        patch(app, securable, json!(changes)).await?;
    }
    Ok(())
}

/// The direct grants on a securable, as the grants API lists them: principal → privileges.
async fn direct(app: &TestApp, securable: usize) -> BTreeMap<String, BTreeSet<String>> {
    let s = &securables()[securable];
    let r = app
        .admin_get(&format!("{UC}/permissions/{}/{}", s.securable_type().as_str(), s.full_name()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["privilege_assignments"]
        .as_array()
        .expect("privilege_assignments")
        .iter()
        .map(|a| {
            (
                a["principal"].as_str().expect("principal").to_owned(),
                a["privileges"]
                    .as_array()
                    .expect("privileges")
                    .iter()
                    .map(|p| p.as_str().expect("privilege").to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// The effective-permissions API for one grantee on a securable (grants to it, not to its
/// groups): (privilege, the catalog or schema it is inherited from, or "").
async fn effective_api(
    app: &TestApp,
    grantee: usize,
    securable: usize,
) -> BTreeSet<(String, String)> {
    let s = &securables()[securable];
    let r = app
        .admin_get(&format!(
            "{UC}/effective-permissions/{}/{}?principal={}",
            s.securable_type().as_str(),
            s.full_name(),
            GRANTEES[grantee]
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut out = BTreeSet::new();
    for a in r.body["privilege_assignments"].as_array().expect("privilege_assignments") {
        assert_eq!(a["principal"], GRANTEES[grantee], "{:?}", r.body);
        for p in a["privileges"].as_array().expect("privileges") {
            out.insert((
                p["privilege"].as_str().expect("privilege").to_owned(),
                // Absent on a direct grant.
                p["inherited_from_name"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

/// (user, securable) → the privileges the store says are in effect.
async fn effective_all(world: &World) -> Effective {
    let mut out = BTreeMap::new();
    for (u, id) in world.user_ids.iter().enumerate() {
        for (i, s) in securables().iter().enumerate() {
            let held = world
                .app
                .store
                .effective_privileges(world.app.workspace_id, s, *id)
                .await
                .expect("effective privileges");
            out.insert((u, i), held.iter().map(|p| p.as_str().to_owned()).collect());
        }
    }
    out
}

/// Everything observable about grants: the direct grants on every securable and what is in
/// effect for every user.
async fn snapshot(world: &World) -> (Vec<BTreeMap<String, BTreeSet<String>>>, Effective) {
    let mut directs = Vec::new();
    for s in 0..5 {
        directs.push(direct(&world.app, s).await);
    }
    (directs, effective_all(world).await)
}

/// The store and the model agree: direct grants per securable, and effective privileges per
/// user == baseline ∪ ⋃ { model[g, s'] : g reaches the user, s' in the chain of s }.
async fn check(world: &World, model: &Model) -> Result<(), TestCaseError> {
    for s in 0..5 {
        let expected: BTreeMap<String, BTreeSet<String>> = (0..GRANTEES.len())
            .filter_map(|g| {
                model
                    .get(&(g, s))
                    .filter(|p| !p.is_empty())
                    .map(|p| (GRANTEES[g].to_owned(), p.clone()))
            })
            .collect();
        let actual: BTreeMap<_, _> = direct(&world.app, s)
            .await
            .into_iter()
            .filter(|(principal, _)| GRANTEES.contains(&principal.as_str()))
            .collect();
        prop_assert_eq!(actual, expected, "direct grants on {}", securables()[s]);
    }
    for (g, _) in GRANTEES.iter().enumerate() {
        for s in 0..5 {
            let mut expected = BTreeSet::new();
            for level in chain(s) {
                let from = if level == s { String::new() } else { securables()[level].full_name() };
                for p in model.get(&(g, level)).into_iter().flatten() {
                    expected.insert((p.clone(), from.clone()));
                }
            }
            prop_assert_eq!(
                effective_api(&world.app, g, s).await,
                expected,
                "effective-permissions of {} on {}",
                GRANTEES[g],
                securables()[s]
            );
        }
    }
    let effective = effective_all(world).await;
    for u in 0..3 {
        for s in 0..5 {
            let mut expected = world.baseline[&(u, s)].clone();
            for g in REACHES[u] {
                for level in chain(s) {
                    if let Some(p) = model.get(&(*g, level)) {
                        expected.extend(p.iter().cloned());
                    }
                }
            }
            prop_assert_eq!(
                &effective[&(u, s)],
                &expected,
                "effective privileges of {} on {}",
                GRANTEES[u],
                securables()[s]
            );
        }
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

#[test]
fn effective_privileges_are_the_union_of_direct_inherited_and_group_grants() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let world = rt.block_on(world());
    runner(24)
        .run(&prop::collection::vec(change(), 1..8), |changes| {
            rt.block_on(async {
                reset(&world.app).await?;
                let mut model = Model::new();
                for c in &changes {
                    send(&world.app, c).await?;
                    apply(&mut model, c);
                }
                check(&world, &model).await
            })
        })
        .unwrap();
}

#[test]
fn granting_then_revoking_the_same_privileges_restores_the_previous_state() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let world = rt.block_on(world());
    let strategy = (prop::collection::vec(change(), 0..6), change());
    runner(24)
        .run(&strategy, |(before, probe)| {
            rt.block_on(async {
                reset(&world.app).await?;
                let mut model = Model::new();
                for c in &before {
                    send(&world.app, c).await?;
                    apply(&mut model, c);
                }
                let previous = snapshot(&world).await;
                // Privileges the grantee does not hold there yet; not ALL_PRIVILEGES, whose
                // removal on a Hive metastore object removes everything (by design).
                let held =
                    model.get(&(probe.grantee, probe.securable)).cloned().unwrap_or_default();
                let granted: Vec<String> =
                    probe.add.iter().filter(|p| *p != ALL && !held.contains(*p)).cloned().collect();
                let grant = Change { add: granted.clone(), remove: Vec::new(), ..probe.clone() };
                send(&world.app, &grant).await?;
                apply(&mut model, &grant);
                check(&world, &model).await?;
                if !granted.is_empty() {
                    prop_assert_ne!(&snapshot(&world).await, &previous, "the grant shows");
                }
                let revoke = Change { add: Vec::new(), remove: granted, ..probe };
                send(&world.app, &revoke).await?;
                prop_assert_eq!(&snapshot(&world).await, &previous, "revoking restores");
                Ok(())
            })
        })
        .unwrap();
}
