//! `http`: outbound HTTP to the origins the embedder allows, and nowhere else (by default nowhere at all).
//!
//! Every URL, and every redirect, is checked against the allowlist by origin (scheme, host and port). Responses are
//! read up to a size limit and the whole exchange is bounded in time. The client uses no system proxy and keeps no
//! cookies, so nothing of the host's environment leaks into requests.

use std::sync::Arc;
use std::time::Duration;

use isobox_capabilities::{CallContext, CallError, Capability, Interface};
use reqwest::{Method, Url, redirect};
use rustls_platform_verifier::BuilderVerifierExt;
use serde::{Deserialize, Serialize};
use url::Origin;

const WIT: &str = include_str!("../../../wit/http.wit");

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Headers the client sets itself: the body's framing, the connection, and `Host`, which must name the URL's origin.
const RESERVED_HEADERS: [&str; 9] =
    ["host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "expect"];

/// What the `http` capability may reach, and how much of it.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Origins requests may go to, such as `https://api.example.com` or `http://127.0.0.1:8080`. Empty: none.
    pub allowed_origins: Vec<String>,
    /// Time for a whole exchange: connecting, redirects, and reading the body.
    pub timeout: Duration,
    /// The largest response body, in bytes.
    pub max_response_bytes: usize,
    /// Redirects followed per request; each must stay within the allowed origins.
    pub max_redirects: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            timeout: Duration::from_secs(10),
            max_response_bytes: 1 << 20,
            max_redirects: 5,
        }
    }
}

/// A configuration that cannot work: an allowed origin that is not one, or a TLS setup failure.
#[derive(Debug, thiserror::Error)]
pub enum HttpConfigError {
    #[error(
        "`{origin}` is not an origin: {reason} (expected e.g. `https://api.example.com` or `http://127.0.0.1:8080`)"
    )]
    Origin { origin: String, reason: String },
    #[error("the HTTP client could not be set up: {0}")]
    Client(String),
}

/// The `http` interface, as declared in `wit/http.wit`.
pub fn interface() -> Interface {
    Capability::from_wit("wit/http.wit", WIT, "http").expect("wit/http.wit declares `http`").interface().clone()
}

/// The client behind the `http` capability. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    allowed: Arc<Vec<Origin>>,
    max_response_bytes: usize,
}

#[derive(Deserialize, Default)]
struct FetchOptions {
    method: Option<String>,
    headers: Option<Vec<(String, String)>>,
    body: Option<String>,
}

#[derive(Serialize)]
struct FetchResponse {
    status: u16,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpClient {
    pub fn new(config: &HttpConfig) -> Result<Self, HttpConfigError> {
        let allowed: Arc<Vec<Origin>> =
            Arc::new(config.allowed_origins.iter().map(|origin| parse_origin(origin)).collect::<Result<_, _>>()?);
        let redirects = {
            let (allowed, max) = (Arc::clone(&allowed), config.max_redirects);
            redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > max {
                    attempt.error(format!("more than {max} redirects"))
                } else if let Err(error) = check_origin(&allowed, attempt.url()) {
                    attempt.error(error)
                } else {
                    attempt.follow()
                }
            })
        };
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .no_proxy()
            .redirect(redirects)
            .timeout(config.timeout)
            .build()
            .map_err(|error| HttpConfigError::Client(error.to_string()))?;
        Ok(Self { client, allowed, max_response_bytes: config.max_response_bytes })
    }

    /// The `http` capability over this client.
    pub fn capability(&self) -> Capability {
        let this = self.clone();
        Capability::new(interface()).func(
            "fetch",
            move |_ctx: CallContext, (url, options): (String, Option<FetchOptions>)| {
                let this = this.clone();
                async move { this.fetch(&url, options.unwrap_or_default()).await }
            },
        )
    }

    async fn fetch(&self, url: &str, options: FetchOptions) -> Result<FetchResponse, CallError> {
        let url = Url::parse(url).map_err(|error| CallError::new(format!("`{url}` is not a URL: {error}")))?;
        check_origin(&self.allowed, &url).map_err(CallError::new)?;
        let method = options.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(CallError::new(format!("unsupported method `{method}` (use one of {})", METHODS.join(", "))));
        }
        let mut request = self.client.request(Method::from_bytes(method.as_bytes()).expect("a known method"), url);
        for (name, value) in options.headers.unwrap_or_default() {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                || name.to_ascii_lowercase().starts_with("proxy-")
            {
                return Err(CallError::new(format!("the `{name}` header is set by the host, not by the program")));
            }
            request = request.header(name, value);
        }
        if let Some(body) = options.body {
            request = request.body(body);
        }
        let mut response = request.send().await.map_err(|error| CallError::new(describe(&error)))?;
        let (status, url) = (response.status().as_u16(), response.url().to_string());
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        let too_large =
            || CallError::new(format!("the response body is larger than {} bytes", self.max_response_bytes));
        if response.content_length().is_some_and(|length| length > self.max_response_bytes as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| CallError::new(describe(&error)))? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchResponse { status, url, headers, body: String::from_utf8_lossy(&body).into_owned() })
    }
}

/// rustls with the ring provider and the operating system's certificate store, HTTP/1.1.
fn tls_config() -> Result<rustls::ClientConfig, HttpConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|error| HttpConfigError::Client(error.to_string()))?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn parse_origin(text: &str) -> Result<Origin, HttpConfigError> {
    let invalid = |reason: &str| HttpConfigError::Origin { origin: text.into(), reason: reason.into() };
    let url = Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("only http and https are supported"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid("an origin is a scheme, a host and an optional port, nothing else"));
    }
    Ok(url.origin())
}

fn check_origin(allowed: &[Origin], url: &Url) -> Result<(), String> {
    let origin = url.origin();
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{url}`: only http and https URLs can be fetched"));
    }
    if allowed.contains(&origin) {
        return Ok(());
    }
    let allowed: Vec<String> = allowed.iter().map(Origin::ascii_serialization).collect();
    Err(match allowed.is_empty() {
        true => format!("{} is not allowed: this host allows no outbound HTTP", origin.ascii_serialization()),
        false => format!("{} is not allowed (allowed: {})", origin.ascii_serialization(), allowed.join(", ")),
    })
}

/// reqwest's message with its causes, which name what actually went wrong (refused, timed out, redirect denied).
fn describe(error: &reqwest::Error) -> String {
    let mut message = if error.is_timeout() { "the request timed out".to_string() } else { error.to_string() };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        let origin = parse_origin("https://API.example.com").unwrap();
        assert_eq!(origin.ascii_serialization(), "https://api.example.com");
        assert!(parse_origin("http://127.0.0.1:8080/").is_ok());
        for bad in ["api.example.com", "ftp://example.com", "https://example.com/v1", "https://u@example.com", "x"] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_are_checked_by_origin() {
        let allowed = [parse_origin("https://api.example.com").unwrap()];
        let check = |url: &str| check_origin(&allowed, &Url::parse(url).unwrap());
        assert!(check("https://api.example.com/v1/items?q=1").is_ok());
        assert!(check("https://api.example.com:443/").is_ok());
        for denied in ["http://api.example.com/", "https://api.example.com:8443/", "https://evil.example.com/"] {
            let error = check(denied).unwrap_err();
            assert!(error.contains("is not allowed (allowed: https://api.example.com)"), "{denied}: {error}");
        }
        assert!(
            check_origin(&[], &Url::parse("https://api.example.com").unwrap()).unwrap_err().contains("no outbound")
        );
    }
}
