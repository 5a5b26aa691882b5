//! The `http` capability, on every backend with the same expectations, against a server on 127.0.0.1: requests reach
//! allowed origins with their method, headers and body; everything else — another origin, a redirect out, a body too
//! large, a server too slow, a header the host owns — is an error thrown to the program, and the host goes on.

use crate::common;

use std::time::Duration;

use common::Backends;
use isobox::http::{HttpClient, HttpConfig};
use isobox::{Capabilities, Request};
use serde_json::{Value, json};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Backends whose `http` capability allows `origins`, with `config`'s other limits.
fn backends(origins: &[&str], config: HttpConfig) -> Backends {
    let config = HttpConfig { allowed_origins: origins.iter().map(|origin| origin.to_string()).collect(), ..config };
    let mut capabilities = Capabilities::new();
    capabilities.register(HttpClient::new(&config).unwrap().capability()).unwrap();
    common::backends(&capabilities)
}

/// Runs `code` with `http` granted on every backend; the value each returned.
async fn values(backends: &Backends, code: &str) -> Vec<(&'static str, Value)> {
    let mut values = Vec::new();
    for (name, backend) in backends {
        let outcome = backend.run(&Request::new(code).with_grants(["http"])).await;
        let value = outcome.result.unwrap_or_else(|error| panic!("{name}: `{code}`: {error:?}"));
        values.push((*name, value));
    }
    values
}

/// The message of the error `call` throws, caught inside the program.
fn thrown(call: &str) -> String {
    format!("try {{ await {call}; return 'no error' }} catch (e) {{ return `${{e.name}}: ${{e.message}}` }}")
}

#[tokio::test]
async fn get_returns_status_headers_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(200).insert_header("x-total", "2").set_body_json(json!([1, 2])))
        .mount(&server)
        .await;
    let backends = backends(&[&server.uri()], HttpConfig::default());
    let code = format!(
        "const r = await http.fetch('{}/items');
         return {{ status: r.status, url: r.url, total: r.headers.find(([n]) => n === 'x-total')[1],
                   items: JSON.parse(r.body) }}",
        server.uri()
    );
    for (name, value) in values(&backends, &code).await {
        let expected = json!({"status": 200, "url": format!("{}/items", server.uri()), "total": "2", "items": [1, 2]});
        assert_eq!(value, expected, "{name}");
    }
}

#[tokio::test]
async fn post_sends_method_headers_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .and(header("content-type", "application/json"))
        .and(body_string(r#"{"sku":"KB-1"}"#))
        .respond_with(ResponseTemplate::new(201).set_body_string("created"))
        .mount(&server)
        .await;
    let backends = backends(&[&server.uri()], HttpConfig::default());
    let code = format!(
        "const r = await http.fetch('{}/orders', {{ method: 'post', headers: [['content-type', 'application/json']],
                                                    body: JSON.stringify({{ sku: 'KB-1' }}) }});
         return [r.status, r.body]",
        server.uri()
    );
    for (name, value) in values(&backends, &code).await {
        assert_eq!(value, json!([201, "created"]), "{name}");
    }
}

#[tokio::test]
async fn an_error_status_is_a_response() {
    let server = MockServer::start().await;
    let backends = backends(&[&server.uri()], HttpConfig::default());
    let code = format!("const r = await http.fetch('{}/missing'); return r.status", server.uri());
    for (name, value) in values(&backends, &code).await {
        assert_eq!(value, json!(404), "{name}");
    }
}

#[tokio::test]
async fn other_origins_are_refused() {
    let (allowed, other) = (MockServer::start().await, MockServer::start().await);
    let backends = backends(&[&allowed.uri()], HttpConfig::default());
    let other_host = allowed.uri().replace("127.0.0.1", "localhost");
    for url in [other.uri(), other_host.clone(), "file:///etc/passwd".into()] {
        let code = thrown(&format!("http.fetch('{url}/')"));
        for (name, value) in values(&backends, &code).await {
            let message = value.as_str().unwrap();
            let refused = message.contains("is not allowed") || message.contains("only http and https");
            assert!(message.starts_with("Error: ") && refused, "{name}: {url}: {message}");
        }
    }
    assert!(other.received_requests().await.unwrap().is_empty(), "nothing reached the other server");
}

#[tokio::test]
async fn nothing_is_allowed_by_default() {
    let server = MockServer::start().await;
    let backends = backends(&[], HttpConfig::default());
    let code = thrown(&format!("http.fetch('{}/')", server.uri()));
    for (name, value) in values(&backends, &code).await {
        let message = value.as_str().unwrap();
        assert!(message.contains("this host allows no outbound HTTP"), "{name}: {message}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn redirects_are_followed_only_within_allowed_origins() {
    let (allowed, other) = (MockServer::start().await, MockServer::start().await);
    Mock::given(path("/inside"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/target"))
        .mount(&allowed)
        .await;
    Mock::given(path("/target")).respond_with(ResponseTemplate::new(200).set_body_string("here")).mount(&allowed).await;
    Mock::given(path("/outside"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{}/", other.uri())))
        .mount(&allowed)
        .await;
    let backends = backends(&[&allowed.uri()], HttpConfig::default());
    let code = format!(
        "const r = await http.fetch('{0}/inside');
         let outside; try {{ await http.fetch('{0}/outside') }} catch (e) {{ outside = e.message }}
         return [r.url.endsWith('/target'), r.body, outside]",
        allowed.uri()
    );
    for (name, value) in values(&backends, &code).await {
        assert_eq!([&value[0], &value[1]], [&json!(true), &json!("here")], "{name}");
        assert!(value[2].as_str().unwrap().contains("is not allowed"), "{name}: {value}");
    }
    assert!(other.received_requests().await.unwrap().is_empty(), "the redirect out was not followed");
}

#[tokio::test]
async fn response_size_and_time_are_limited() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(4096)))
        .mount(&server)
        .await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let config = HttpConfig { max_response_bytes: 1024, timeout: Duration::from_millis(300), ..HttpConfig::default() };
    let backends = backends(&[&server.uri()], config);
    let code = format!("return [await ({}), await ({})]", thrown_expr(&server, "/big"), thrown_expr(&server, "/slow"));
    for (name, value) in values(&backends, &code).await {
        assert_eq!(value[0], json!("Error: the response body is larger than 1024 bytes"), "{name}");
        assert!(value[1].as_str().unwrap().starts_with("Error: the request timed out"), "{name}: {value}");
    }
}

/// An async expression that fetches `path` and yields the error it threw.
fn thrown_expr(server: &MockServer, path: &str) -> String {
    format!("http.fetch('{}{path}').then(() => 'no error', e => `${{e.name}}: ${{e.message}}`)", server.uri())
}

#[tokio::test]
async fn the_host_owns_framing_headers_and_methods() {
    let server = MockServer::start().await;
    let backends = backends(&[&server.uri()], HttpConfig::default());
    let uri = server.uri();
    let code = format!(
        "const call = options => http.fetch('{uri}/', options).catch(e => e.message);
         return [await call({{ headers: [['Host', 'evil.example']] }}), await call({{ method: 'CONNECT' }}),
                 await call({{ headers: [['bad header', 'x']] }})]"
    );
    for (name, value) in values(&backends, &code).await {
        assert_eq!(value[0], json!("the `Host` header is set by the host, not by the program"), "{name}");
        assert!(value[1].as_str().unwrap().starts_with("unsupported method `CONNECT`"), "{name}: {value}");
        assert!(value[2].as_str().unwrap().contains("header"), "{name}: {value}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn arguments_are_checked_against_the_wit_types() {
    let backends = backends(&[], HttpConfig::default());
    let code = thrown("http.fetch('http://127.0.0.1/', { method: 7 })");
    for (name, value) in values(&backends, &code).await {
        let message = value.as_str().unwrap();
        assert!(message.starts_with("TypeError: ") && message.contains("method"), "{name}: {message}");
    }
}

#[tokio::test]
async fn http_does_not_exist_unless_granted() {
    for (name, backend) in backends(&[], HttpConfig::default()) {
        let outcome = backend.run(&Request::new("return typeof http")).await;
        assert_eq!(outcome.result.unwrap(), json!("undefined"), "{name}");
    }
}
