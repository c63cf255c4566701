//! A bare axum server answering a small fixed JSON document: the ceiling patchbay's
//! authenticated endpoints are measured against (`bench/run`).
//!
//! usage: bench-hello [ADDRESS]   (default 127.0.0.1:0; prints the address it listens on)

use axum::Router;
use axum::http::header;
use axum::routing::get;

const BODY: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"1234567890123456","userName":"admin@example.com","active":true}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("bench-hello: listening on http://{}", listener.local_addr()?);
    let app = Router::new()
        .fallback(get(|| async { ([(header::CONTENT_TYPE, "application/json")], BODY) }));
    axum::serve(listener, app).await
}
