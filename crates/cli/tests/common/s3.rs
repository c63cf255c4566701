//! A local S3 endpoint for the tests of tables stored in a bucket.

use super::client;
use std::process::Command;

/// The S3 endpoint of the tests of tables in a bucket. scripts/test starts one (scripts/s3-up)
/// and names it in `PATCHBAY_TEST_S3_ENDPOINT`.
pub struct S3 {
    endpoint: String,
}

impl S3 {
    pub fn from_env() -> S3 {
        let endpoint =
            std::env::var("PATCHBAY_TEST_S3_ENDPOINT").ok().filter(|s| !s.is_empty()).expect(
                "this test needs an S3 endpoint named in PATCHBAY_TEST_S3_ENDPOINT: \
                 scripts/s3-up starts one, as scripts/test does",
            );
        S3 { endpoint }
    }

    /// A new, empty bucket for one test.
    pub async fn bucket(&self) -> String {
        let name = format!("patchbay-test-{}", uuid::Uuid::new_v4().simple());
        self.create(&name).await;
        name
    }

    pub async fn create(&self, name: &str) {
        let created = client()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("the S3 endpoint answers");
        assert!(created.status().is_success(), "creating bucket {name}: {created:?}");
    }

    /// Points `cmd` (a `patchbay serve`) at the endpoint, as the AWS tools are pointed.
    pub fn configure<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "patchbay-test")
            .env("AWS_SECRET_ACCESS_KEY", "patchbay-test-secret")
            .env("AWS_REGION", "us-east-1")
    }

    /// The keys of the objects in `bucket` under `prefix`.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (mut keys, mut token) = (Vec::new(), None::<String>);
        loop {
            let mut query = vec![("list-type", "2".to_owned()), ("prefix", prefix.to_owned())];
            if let Some(token) = token.take() {
                query.push(("continuation-token", token));
            }
            let listing = client()
                .get(format!("{}/{bucket}", self.endpoint))
                .query(&query)
                .send()
                .await
                .expect("the S3 endpoint answers");
            assert_eq!(listing.status(), 200, "listing {bucket}");
            let xml = listing.text().await.expect("a listing");
            keys.extend(elements(&xml, "Key"));
            token = elements(&xml, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                return keys;
            }
        }
    }
}

/// The texts of the XML elements named `tag` in `xml` (S3's listings have no nesting of them).
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .map(|rest| rest.split_once(&close).expect("a closed element").0.to_owned())
        .collect()
}
