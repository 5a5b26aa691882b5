//! `http`: outbound HTTP to the origins the embedder allows, and nowhere else (by default nowhere at all).
//!
//! Every URL, and every redirect, is checked against the allowlist by origin (scheme, host and port). Responses are
//! read up to a size limit and the whole exchange is bounded in time. The client uses no system proxy and keeps no
//! cookies, so nothing of the host's environment leaks into requests.
//!
//! An allowed origin given by name reaches only public addresses: names are resolved by isobox's own resolver, which
//! drops private, loopback, link-local, unique-local, unspecified, multicast and broadcast addresses, so neither a
//! redirect nor a reused connection gets past it. An origin given as a literal IP address is reached whatever it is:
//! the operator wrote that address down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
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
    /// Origins requests may go to, such as `https://api.example.com` or `http://127.0.0.1:8080`: scheme, host and
    /// optional port, nothing else. Default: empty, so no request goes anywhere.
    pub allowed_origins: Vec<String>,
    /// Time for a whole exchange: connecting, redirects, and reading the body. Default: 10 s.
    pub timeout: Duration,
    /// The largest response body, in bytes; a larger one fails the call. Default: 1 MiB (1,048,576).
    pub max_response_bytes: usize,
    /// Redirects followed per request; each must stay within the allowed origins. Default: 5.
    pub max_redirects: usize,
    /// Let allowed names resolve to private, loopback, link-local, unique-local, unspecified, multicast and broadcast
    /// addresses ([`is_private_address`]). Default: `false`, so that an allowed name cannot lead into the host's own
    /// network; an origin given as a literal IP address is reached either way.
    pub allow_private_addresses: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            timeout: Duration::from_secs(10),
            max_response_bytes: 1 << 20,
            max_redirects: 5,
            allow_private_addresses: false,
        }
    }
}

/// A configuration that cannot work: an allowed origin that is not one, or a TLS setup failure.
#[derive(Debug, thiserror::Error)]
pub enum HttpConfigError {
    /// An entry of [`HttpConfig::allowed_origins`] is not an `http` or `https` origin.
    #[error(
        "`{origin}` is not an origin: {reason} (expected e.g. `https://api.example.com` or `http://127.0.0.1:8080`)"
    )]
    Origin {
        /// The entry as configured.
        origin: String,
        /// Why it is not an origin (not a URL, another scheme, or a path, query or user name after the host).
        reason: String,
    },
    /// The TLS configuration or the HTTP client could not be built; the text says why.
    #[error("the HTTP client could not be set up: {0}")]
    Client(String),
}

/// The `http` interface, as declared in `wit/http.wit`.
///
/// # Panics
/// Only if the WIT built into this crate were malformed: a bug in isobox, not something a caller can cause.
pub fn interface() -> Interface {
    Capability::from_wit("wit/http.wit", WIT, "http").expect("wit/http.wit declares `http`").interface().clone()
}

/// The client behind the `http` capability. Cheap to clone; clones share connections.
///
/// It uses no system proxy, keeps no cookies, and (unless [`HttpConfig::allow_private_addresses`]) resolves names to
/// public addresses only.
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

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let allowed: Vec<String> = self.allowed.iter().map(Origin::ascii_serialization).collect();
        f.debug_struct("HttpClient")
            .field("allowed_origins", &allowed)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client that reaches only `config`'s allowed origins, within its time and size limits. No connection is made
    /// until the first request.
    ///
    /// # Errors
    /// [`HttpConfigError::Origin`] if an allowed origin is not an `http`/`https` origin (scheme, host, optional port);
    /// [`HttpConfigError::Client`] if the platform's certificate verifier or the client cannot be set up.
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
        let mut builder = reqwest::Client::builder();
        if !config.allow_private_addresses {
            builder = builder.dns_resolver(PublicAddresses);
        }
        let client = builder
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

    /// One `http` capability for many tenants, each reaching only its own origins: a call goes through the client
    /// of its request's tenant, and a tenant without one reaches nothing.
    pub fn per_tenant(clients: std::collections::HashMap<String, HttpClient>) -> Capability {
        let clients = Arc::new(clients);
        Capability::new(interface()).func(
            "fetch",
            move |ctx: CallContext, (url, options): (String, Option<FetchOptions>)| {
                let client = clients.get(&*ctx.tenant).cloned();
                async move {
                    let client = client.ok_or_else(|| CallError::new("no origin may be reached by this tenant"))?;
                    client.fetch(&url, options.unwrap_or_default()).await
                }
            },
        )
    }

    async fn fetch(&self, url: &str, options: FetchOptions) -> Result<FetchResponse, CallError> {
        let url = Url::parse(url).map_err(|error| CallError::new(format!("`{url}` is not a URL: {error}")))?;
        let method = options.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let headers = options.headers.unwrap_or_default();
        if let Some((name, _)) = headers.iter().find(|(name, _)| is_reserved_header(name)) {
            return Err(CallError::new(format!("the `{name}` header is set by the host, not by the program")));
        }
        let response = self.send(&method, url, headers, options.body.map(String::into_bytes)).await?;
        let HttpResponse { status, url, headers, body } = response;
        Ok(FetchResponse { status, url, headers, body: String::from_utf8_lossy(&body).into_owned() })
    }

    /// One exchange: `method` (one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS) to `url` with `headers` and
    /// `body`, within the allowed origins (redirects too), the time limit and the response size limit.
    ///
    /// # Errors
    /// A URL outside the allowed origins, an unsupported method, an invalid header, a failed exchange (refused, timed
    /// out, a redirect refused) or a response body larger than the limit, each as a message for the program.
    pub async fn send(
        &self,
        method: &str,
        url: Url,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, CallError> {
        check_origin(&self.allowed, &url).map_err(CallError::new)?;
        if !METHODS.contains(&method) {
            return Err(CallError::new(format!("unsupported method `{method}` (use one of {})", METHODS.join(", "))));
        }
        let mut request = self.client.request(Method::from_bytes(method.as_bytes()).expect("a known method"), url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
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
        Ok(HttpResponse { status, url, headers, body })
    }
}

/// What [`HttpClient::send`] got back.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The HTTP status code, such as 200 or 404; a status that is not a success is still a response, not an error.
    pub status: u16,
    /// The URL answered, after redirects.
    pub url: String,
    /// The response headers as (name, value) pairs in the order received; names are lower-case, values not valid
    /// UTF-8 are decoded lossily.
    pub headers: Vec<(String, String)>,
    /// The whole body, at most [`HttpConfig::max_response_bytes`] bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// Headers a program may not set: the ones the client sets itself, and `Proxy-*`.
pub fn is_reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    RESERVED_HEADERS.contains(&name.as_str()) || name.starts_with("proxy-")
}

/// Resolves names as the operating system does, and keeps only their public addresses.
struct PublicAddresses;

impl reqwest::dns::Resolve for PublicAddresses {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = host.clone();
            let resolved: Vec<SocketAddr> =
                tokio::task::spawn_blocking(move || (lookup.as_str(), 0).to_socket_addrs().map(Iterator::collect))
                    .await??;
            let (private, public): (Vec<SocketAddr>, Vec<SocketAddr>) =
                resolved.into_iter().partition(|address| is_private_address(address.ip()));
            if public.is_empty() {
                let private: Vec<String> = private.iter().map(|address| address.ip().to_string()).collect();
                return Err(format!(
                    "`{host}` resolves to no public address ({}): this host reaches private, loopback and link-local \
                     addresses only when they are allowed by IP or private addresses are allowed",
                    private.join(", ")
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is not a public unicast address: private (10/8, 172.16/12, 192.168/16), shared (100.64/10), loopback,
/// link-local, unique-local (fc00::/7), site-local, unspecified, "this network" (0/8), multicast, broadcast or
/// reserved (240/4); an IPv6 address that embeds an IPv4 one (`::ffff:a.b.c.d`, `::a.b.c.d`, `64:ff9b::a.b.c.d`) is
/// judged by that.
pub fn is_private_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_private_v4(ip),
        IpAddr::V6(ip) => {
            let segments = ip.segments();
            let embedded = Ipv4Addr::from_bits(ip.to_bits() as u32);
            let mapped = segments[..5] == [0; 5] && segments[5] == 0xffff;
            let compatible = segments[..6] == [0; 6];
            let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            if mapped || nat64 {
                return is_private_v4(embedded);
            }
            compatible
                || ip.is_multicast()
                || segments[0] & 0xfe00 == 0xfc00
                || segments[0] & 0xffc0 == 0xfe80
                || segments[0] & 0xffc0 == 0xfec0
        }
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [first, second, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || first == 0
        || first >= 240
        || (first == 100 && second & 0xc0 == 64)
}

/// rustls with the ring provider and the operating system's certificate store, HTTP/1.1: the TLS of every outbound
/// connection isobox makes.
///
/// # Errors
/// The platform's certificate verifier cannot be set up.
pub fn tls_config() -> Result<rustls::ClientConfig, HttpConfigError> {
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
    fn private_addresses_are_told_from_public_ones() {
        let private = [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "127.0.0.1",
            "127.8.8.8",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
        ];
        for ip in private {
            assert!(is_private_address(ip.parse().unwrap()), "{ip} is private");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::808:808",
        ];
        for ip in public {
            assert!(!is_private_address(ip.parse().unwrap()), "{ip} is public");
        }
    }

    /// A wiremock server on 127.0.0.1, reached by name (`localhost`) and by its literal address.
    async fn local_server() -> (wiremock::MockServer, String) {
        use wiremock::matchers::path;
        use wiremock::{Mock, ResponseTemplate};
        let server = wiremock::MockServer::start().await;
        let by_name = format!("http://localhost:{}", server.address().port());
        Mock::given(path("/inside"))
            .respond_with(ResponseTemplate::new(200).set_body_string("inside"))
            .mount(&server)
            .await;
        Mock::given(path("/bounce"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{by_name}/inside")))
            .mount(&server)
            .await;
        (server, by_name)
    }

    fn client(origins: &[&str], allow_private_addresses: bool) -> HttpClient {
        let allowed_origins = origins.iter().map(|origin| origin.to_string()).collect();
        HttpClient::new(&HttpConfig { allowed_origins, allow_private_addresses, ..HttpConfig::default() }).unwrap()
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_private_address_is_refused_unless_allowed() {
        let (server, by_name) = local_server().await;
        let url = format!("{by_name}/inside");

        let error = client(&[&by_name], false).fetch(&url, FetchOptions::default()).await.err().expect("refused");
        assert!(error.message.contains("`localhost` resolves to no public address (127.0.0.1"), "{}", error.message);

        // A redirect to the name goes through the same resolver, even from an origin allowed by literal address.
        let bounce = format!("{}/bounce", server.uri());
        let error = client(&[&server.uri(), &by_name], false).fetch(&bounce, FetchOptions::default()).await.err();
        assert!(error.expect("refused").message.contains("resolves to no public address"));

        let allowed = client(&[&by_name], true).fetch(&url, FetchOptions::default()).await.unwrap();
        assert_eq!((allowed.status, allowed.body.as_str()), (200, "inside"));
        let redirected = client(&[&server.uri(), &by_name], true).fetch(&bounce, FetchOptions::default()).await;
        assert_eq!(redirected.unwrap().body, "inside");
    }

    #[tokio::test]
    async fn an_origin_given_as_a_literal_loopback_address_is_reached() {
        let (server, _) = local_server().await;
        let response =
            client(&[&server.uri()], false).fetch(&format!("{}/inside", server.uri()), FetchOptions::default()).await;
        assert_eq!(response.unwrap().body, "inside");
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
