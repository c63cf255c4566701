//! The partner client calls only allowed addresses: judged after DNS on the address connected
//! to, and never through a redirect. A partner here is a real HTTP server on 127.0.0.1 that
//! counts the requests it gets; names resolve through a table, as DNS would answer them.

#[path = "../../server/tests/common/scripted_partner.rs"]
mod scripted_partner;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use patchbay_partner::client::{CallError, Endpoint, PartnerClient, RetryPolicy};
use patchbay_partner::outbound::{Lookup, OutboundPolicy, Range};
use patchbay_partner::protocol::ConnectionInfo;
use scripted_partner::scripted_partner;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// DNS as a table; unknown names do not resolve.
struct Table(HashMap<String, Vec<IpAddr>>);

impl Lookup for Table {
    fn lookup(
        &self,
        name: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let found = self.0.get(&name).cloned();
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))
        })
    }
}

fn client(ranges: &[Range], names: &[(&str, &[&str])]) -> PartnerClient {
    let table = names
        .iter()
        .map(|(n, ips)| ((*n).to_owned(), ips.iter().map(|ip| ip.parse().unwrap()).collect()))
        .collect();
    PartnerClient::with_lookup(
        RetryPolicy { delays: Vec::new() },
        Duration::from_secs(3),
        OutboundPolicy::allowing(ranges),
        Arc::new(Table(table)),
    )
}

fn passing() -> axum::response::Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"test_results": [{"test_name": "token", "status": "PASS"}]}"#,
    )
        .into_response()
}

fn endpoint(base_url: String) -> Endpoint {
    Endpoint {
        base_url,
        connect_path: "/connect".into(),
        delete_connection_path: None,
        test_connection_path: Some("/test-connection".into()),
        rotate_token_path: None,
        username: "databricks".into(),
        password: "secret".into(),
        hostnames: Vec::new(),
    }
}

async fn test_connection(
    client: &PartnerClient,
    base_url: String,
) -> Result<patchbay_partner::protocol::ConnectionTestResult, CallError> {
    let request = ConnectionInfo {
        connection_id: "c1".into(),
        cloud_provider: None,
        databricks_organization_id: None,
    };
    client
        .test_connection(&endpoint(base_url), &request)
        .await
        .expect("the endpoint has a test path")
}

fn refused(result: Result<impl std::fmt::Debug, CallError>) -> String {
    match result {
        Err(CallError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_a_refused_address_is_not_called() {
    let (partner, hits) = scripted_partner(passing).await;
    let port = partner.port();
    let public_only = client(&[], &[("partner.test", &["127.0.0.1"])]);
    let why = refused(test_connection(&public_only, format!("http://partner.test:{port}")).await);
    assert!(
        why.contains("partner.test resolves only to addresses patchbay does not call")
            && why.contains("127.0.0.1 is a loopback address")
            && why.contains("--allow-outbound loopback"),
        "{why}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // The same name once loopback is allowed: called.
    let loopback = client(&[Range::Loopback], &[("partner.test", &["127.0.0.1"])]);
    let result = test_connection(&loopback, format!("http://partner.test:{port}")).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_resolver_hands_on_only_allowed_addresses() {
    use patchbay_partner::outbound::GuardedResolver;
    use reqwest::dns::Resolve;
    let table: Arc<dyn Lookup> = Arc::new(Table(HashMap::from([
        (
            "mixed.test".to_owned(),
            ["10.0.0.1", "127.0.0.1", "::1", "169.254.169.254", "93.184.215.14"]
                .map(|ip| ip.parse().unwrap())
                .to_vec(),
        ),
        ("inside.test".to_owned(), vec!["10.0.0.1".parse().unwrap()]),
    ])));
    let resolver =
        GuardedResolver::new(Arc::new(OutboundPolicy::allowing(&[Range::Loopback])), table);
    let addrs: Vec<String> = resolver
        .resolve("mixed.test".parse().unwrap())
        .await
        .unwrap()
        .map(|a| a.ip().to_string())
        .collect();
    assert_eq!(addrs, ["127.0.0.1", "::1", "93.184.215.14"]);
    let Err(e) = resolver.resolve("inside.test".parse().unwrap()).await else {
        panic!("a name with only private addresses resolved");
    };
    assert!(e.to_string().contains("10.0.0.1 is a private address"), "{e}");
}

#[tokio::test]
async fn only_the_allowed_addresses_of_a_name_are_connected_to() {
    let (partner, hits) = scripted_partner(passing).await;
    let port = partner.port();
    // The private and metadata addresses are dropped: a connection to either would fail or hang
    // (nothing listens there), so success means the loopback address was the one used.
    let loopback = client(
        &[Range::Loopback],
        &[("mixed.test", &["10.255.255.1", "169.254.169.254", "127.0.0.1"])],
    );
    let result = test_connection(&loopback, format!("http://mixed.test:{port}")).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn literals_and_metadata_names_are_refused_before_any_lookup() {
    let public_only = client(&[], &[("metadata.google.internal", &["127.0.0.1"])]);
    for base in [
        "http://169.254.169.254/latest/meta-data",
        "http://0xA9FEA9FE",
        "http://2852039166",
        "http://[::ffff:169.254.169.254]",
        "http://[fd00:ec2::254]",
        "http://[fe80::1]",
        "http://10.0.0.1",
        "http://192.168.1.1",
        "http://127.0.0.1:1",
        "http://localhost:1",
        "http://metadata.google.internal",
        "ftp://partner.example.com",
        "not a url",
    ] {
        let why = refused(test_connection(&public_only, base.to_owned()).await);
        assert!(!why.is_empty(), "{base}");
    }
    // Allowing loopback does not open metadata.
    let loopback = client(&[Range::Loopback, Range::LinkLocal], &[]);
    let why = refused(test_connection(&loopback, "http://169.254.169.254".into()).await);
    assert!(why.contains("never"), "{why}");
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    let (target, target_hits) = scripted_partner(passing).await;
    let (partner, hits) = scripted_partner(move || {
        (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, format!("http://{target}/test-connection"))],
        )
            .into_response()
    })
    .await;
    let loopback = client(&[Range::Loopback], &[]);
    let result = test_connection(&loopback, format!("http://{partner}")).await;
    assert!(matches!(result, Err(CallError::Status { status: 307, .. })), "{result:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(target_hits.load(Ordering::SeqCst), 0, "the redirect target was called");
}
