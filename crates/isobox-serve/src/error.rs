//! Errors the service answers with: a status and a JSON body `{"error": {"kind", "message"}}`, never a stack trace.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A request the service refuses, and why.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status answered, a 4xx or 5xx.
    pub status: StatusCode,
    /// A stable name for the kind of refusal, for programs: `unauthorized`, `forbidden`, `invalid_request`, …
    pub kind: &'static str,
    /// What is wrong, for people; shown to the client as is, so it must hold no secret.
    pub message: String,
}

impl ApiError {
    /// A refusal with any status and kind.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, message: message.into() }
    }

    /// 400 `invalid_request`: the request is malformed or asks for something out of range.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 403 `forbidden`: the tenant may not do this (such as a grant beyond its own, or limits above its ceiling).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer`: no API key, or one that names no tenant.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404 `not_found`: no such endpoint.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint (see /v1/execute, /v1/types, /v1/search, /mcp)")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "kind": self.kind, "message": self.message } }).to_string();
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
