//! JSON request bodies, read the way real clients send them: `application/json`,
//! `application/scim+json`, the legacy CLI's `text/json`, or no content type at all. A body
//! that is too large, cannot be read or is not JSON gets the endpoint's error envelope, never
//! axum's plain text.

use crate::error::{ApiError, Envelope};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Largest accepted request body.
pub const MAX_BODY: usize = 1024 * 1024;

/// A JSON body of type `T`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let envelope = Envelope::for_request(req.uri(), req.extensions());
        // A declared length over the limit is refused before a byte of the body is read.
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(ApiError::payload_too_large(MAX_BODY).in_envelope(envelope));
        }
        // Only a body over the limit is a 413; one that could not be read (the client hung up
        // mid-body, a broken chunked encoding) is the client's malformed request.
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(MAX_BODY)
            } else {
                ApiError::malformed("The request body could not be read to its end.")
                    .scim_type("invalidSyntax")
            }
            .in_envelope(envelope)
        })?;
        if bytes.len() > MAX_BODY {
            return Err(ApiError::payload_too_large(MAX_BODY).in_envelope(envelope));
        }
        parse(&bytes).map(JsonBody).map_err(|e| e.in_envelope(envelope))
    }
}

/// Parses a JSON body; an empty body reads as `{}` so that bodiless POSTs work.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        let kind = if e.is_data() { "Invalid request" } else { "Malformed JSON" };
        ApiError::malformed(format!("{kind}: {e}")).scim_type("invalidSyntax")
    })
}

/// A JSON body of type `T` that must be there: a request without one is a 400, where
/// [`JsonBody`] would read it as `{}`. For bodies that are the whole request, such as the
/// representation a SCIM PUT replaces a resource with, where `{}` may mean something but a
/// missing body can only be a client's mistake.
pub struct RequiredJsonBody<T>(pub T);

impl<S, T> FromRequest<S> for RequiredJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        use axum::body::HttpBody;
        if req.body().is_end_stream() {
            let envelope = Envelope::for_request(req.uri(), req.extensions());
            return Err(ApiError::bad_request("This request needs a JSON body, and it has none.")
                .scim_type("invalidSyntax")
                .in_envelope(envelope));
        }
        let JsonBody(body) = JsonBody::from_request(req, state).await?;
        Ok(RequiredJsonBody(body))
    }
}
