//! OpenAPI connectors, on every backend with the same expectations: GitHub's own OpenAPI document (1,223 operations)
//! with its base URL pointed at a local server answering as GitHub's API would. Parameters land in the path, the query
//! and the body; the configured credential reaches the server and never the program; a wrong argument is a
//! `TypeError` before anything is sent; a non-2xx answer rejects with its status and body.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use common::Backends;
use isobox::connectors::{ConnectorConfig, OpenApi};
use isobox::http::HttpClient;
use isobox::{Capabilities, Request};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "Bearer s3cret-token";

fn github_document() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openapi/api.github.com.json")
}

/// The connector `name` for `document`, sending to `base_url` with the test's credential.
fn connector(name: &str, document: PathBuf, base_url: &str) -> isobox::Capability {
    let config = ConnectorConfig {
        openapi: Some(document),
        base_url: Some(base_url.to_string()),
        headers: BTreeMap::from([("Authorization".to_string(), TOKEN.to_string())]),
        ..ConnectorConfig::default()
    };
    let api = OpenApi::load(name, &config).unwrap_or_else(|error| panic!("{error}"));
    api.capability(HttpClient::new(&api.http_config(&config)).unwrap())
}

fn backends(capabilities: Vec<isobox::Capability>) -> Backends {
    let mut registry = Capabilities::new();
    for capability in capabilities {
        registry.register(capability).unwrap();
    }
    common::backends(&registry)
}

/// What `code`, granted `grants`, returns on each backend (which must agree).
async fn value(backends: &Backends, grants: &[&str], code: &str) -> Value {
    let mut first: Option<Value> = None;
    for (name, backend) in backends {
        let outcome = backend.run(&Request::new(code).with_grants(grants.iter().copied())).await;
        let value = outcome.result.unwrap_or_else(|error| panic!("{name}: `{code}`: {error:?}"));
        match &first {
            Some(first) => assert_eq!(&value, first, "{name} disagrees on `{code}`"),
            None => first = Some(value),
        }
    }
    first.expect("a backend")
}

/// `{name, message, data}` of what `call` throws, caught in the program.
fn thrown(call: &str) -> String {
    format!(
        "try {{ await {call}; return 'no error' }} catch (e) {{ return {{ name: e.name, message: e.message, data: e.data ?? null }} }}"
    )
}

#[tokio::test]
async fn github_operations_map_parameters_and_keep_the_credential_on_the_host() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/hello/pulls"))
        .and(query_param("state", "open"))
        .and(query_param("per_page", "2"))
        .and(header("authorization", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "number": 7, "title": "Fix it", "user": { "login": "ada" } },
            { "number": 9, "title": "Speed up", "user": { "login": "bob" } }
        ])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/hello/issues/7/comments"))
        .and(header("authorization", TOKEN))
        .and(body_json(json!({ "body": "Looks good" })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 42, "body": "Looks good" })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })))
        .mount(&server)
        .await;
    // An owner with a slash stays one path segment.
    Mock::given(method("GET"))
        .and(path("/repos/a%2Fb/c"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "full_name": "a/b/c" })))
        .mount(&server)
        .await;

    let started = Instant::now();
    let github = connector("github", github_document(), &server.uri());
    eprintln!("GitHub's OpenAPI document loaded in {:?}", started.elapsed());
    assert_eq!(github.interface().functions.len(), 1223);
    let backends = backends(vec![github]);

    let pulls = value(
        &backends,
        &["github"],
        "const prs = await github.pullsList({ owner: 'octo', repo: 'hello', state: 'open', per_page: 2 });
         return prs.map(pr => [pr.number, pr.user.login]);",
    )
    .await;
    assert_eq!(pulls, json!([[7, "ada"], [9, "bob"]]));

    let comment = value(
        &backends,
        &["github"],
        "return await github.issuesCreateComment({ owner: 'octo', repo: 'hello', issue_number: 7, body: { body: 'Looks good' } });",
    )
    .await;
    assert_eq!(comment["id"], 42);

    let missing = value(&backends, &["github"], &thrown("github.reposGet({ owner: 'octo', repo: 'gone' })")).await;
    assert_eq!(missing["name"], "Error");
    assert_eq!(missing["message"], "GET /repos/{owner}/{repo} answered 404");
    assert_eq!(missing["data"], json!({ "status": 404, "body": { "message": "Not Found" } }));

    let slash =
        value(&backends, &["github"], "return (await github.reposGet({ owner: 'a/b', repo: 'c' })).full_name;").await;
    assert_eq!(slash, "a/b/c");

    // Wrong arguments are refused in the sandbox: nothing is sent.
    let before = server.received_requests().await.unwrap().len();
    let wrong_type = value(&backends, &["github"], &thrown("github.pullsList({ owner: 1, repo: 'hello' })")).await;
    assert_eq!(wrong_type["name"], "TypeError", "{wrong_type}");
    assert!(wrong_type["message"].as_str().unwrap().contains("params.owner"), "{wrong_type}");
    let missing_owner = value(&backends, &["github"], &thrown("github.pullsList({ repo: 'hello' })")).await;
    assert!(missing_owner["message"].as_str().unwrap().contains("required"), "{missing_owner}");
    let wrong_enum =
        value(&backends, &["github"], &thrown("github.pullsList({ owner: 'o', repo: 'r', state: 'merged' })")).await;
    assert_eq!(wrong_enum["name"], "TypeError", "{wrong_enum}");
    // The credential is the host's: a program cannot add a header the operation does not declare.
    let forged = value(
        &backends,
        &["github"],
        &thrown("github.pullsList({ owner: 'o', repo: 'r', Authorization: 'Bearer mine' })"),
    )
    .await;
    assert_eq!(forged["name"], "TypeError", "{forged}");
    let dot_dot = value(&backends, &["github"], &thrown("github.reposGet({ owner: '..', repo: 'x' })")).await;
    assert_eq!(dot_dot["name"], "Error", "{dot_dot}");
    assert_eq!(server.received_requests().await.unwrap().len(), before, "refused calls reached the server");

    // Nothing of the credential is in the sandbox, and an ungranted connector is not there at all.
    let visible = value(
        &backends,
        &["github"],
        "const seen = Object.getOwnPropertyNames(globalThis).map(name => [name, String(globalThis[name])]);
         seen.push(Object.getOwnPropertyNames(github).map(name => String(github[name])));
         return JSON.stringify(seen).includes('s3cret');",
    )
    .await;
    assert_eq!(visible, false);
    assert_eq!(value(&backends, &[], "return typeof github").await, "undefined");
}

#[tokio::test]
async fn a_declared_header_parameter_cannot_replace_a_configured_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .and(header("authorization", TOKEN))
        .and(header("x-trace", "t-1"))
        .respond_with(ResponseTemplate::new(200).set_body_string("plain text"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("api.yaml");
    // YAML, with status codes as numbers, as many documents write them.
    std::fs::write(
        &document,
        "openapi: 3.1.0\ninfo: { title: Me API }\npaths:\n  /me:\n    get:\n      operationId: get-me\n      parameters:\n        \
         - { name: Authorization, in: header, schema: { type: string } }\n        - { name: X-Trace, in: header, schema: { type: string } }\n      \
         responses:\n        200:\n          description: ok\n          content: { text/plain: { schema: { type: string } } }\n",
    )
    .unwrap();
    let me = connector("me", document, &format!("{}/v1", server.uri()));
    assert_eq!(
        isobox::capabilities::declarations([me.interface()]).lines().nth(3),
        Some("  getMe(params?: { Authorization?: string; \"X-Trace\"?: string } | null): Promise<string>;")
    );
    let backends = backends(vec![me]);
    let answer =
        value(&backends, &["me"], "return await me.getMe({ Authorization: 'Bearer mine', 'X-Trace': 't-1' })").await;
    assert_eq!(answer, "plain text");
}

#[tokio::test]
async fn a_redirect_off_the_base_origin_is_refused_and_a_dead_upstream_is_an_error() {
    let server = MockServer::start().await;
    // Elsewhere: another port of this machine, a different origin.
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:9/steal"))
        .mount(&server)
        .await;
    let document = tempfile::NamedTempFile::new().unwrap();
    let api = json!({ "openapi": "3.0.0", "info": { "title": "t" },
                      "paths": { "/me": { "get": { "operationId": "getMe", "responses": {} } } } });
    std::fs::write(document.path(), api.to_string()).unwrap();
    let moved = connector("moved", document.path().to_path_buf(), &format!("{}/v1", server.uri()));
    // Nothing listens on port 9 of 127.0.0.1 (discard): the upstream is down.
    let down = connector("down", document.path().to_path_buf(), "http://127.0.0.1:9");
    let backends = backends(vec![moved, down]);
    let redirected = value(&backends, &["moved"], &thrown("moved.getMe()")).await;
    assert_eq!(redirected["name"], "Error", "{redirected}");
    assert!(redirected["message"].as_str().unwrap().contains("is not allowed"), "{redirected}");
    let dead = value(&backends, &["down"], &thrown("down.getMe()")).await;
    assert_eq!(dead["name"], "Error", "{dead}");
}

#[tokio::test]
async fn a_connector_can_require_approval_for_every_operation_but_reads() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/hello/pulls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{ "number": 7 }])))
        .mount(&server)
        .await;
    // Nothing is sent before a person approves.
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).expect(0).mount(&server).await;
    let github = ConnectorConfig {
        openapi: Some(github_document()),
        base_url: Some(server.uri()),
        require_approval_writes: true,
        require_approval: vec!["reposGet".into()],
        ..ConnectorConfig::default()
    };
    let config = isobox::connectors::Config {
        connectors: BTreeMap::from([("github".to_string(), github)]),
        ..isobox::connectors::Config::default()
    };
    let mut loaded = isobox::connectors::load(&config, |_| true).await;
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors.first().map(ToString::to_string));
    let github = loaded.capabilities.remove(0);
    // Reads pass; every write needs approval, and so does the one read named.
    for (method, gated) in
        [("pullsList", false), ("issuesCreateComment", true), ("reposDelete", true), ("reposGet", true)]
    {
        let declared = github.interface().functions.iter().find(|f| f.method == method).unwrap();
        assert_eq!(github.needs_approval(&declared.name), gated, "{method}");
    }
    let backends = backends(vec![github]);
    for (name, backend) in &backends {
        let code = "const prs = await github.pullsList({ owner: 'octo', repo: 'hello' });
                    await github.issuesCreateComment({ owner: 'octo', repo: 'hello', issue_number: prs[0].number, body: { body: 'hi' } });
                    return 'commented'";
        let outcome = backend.run(&Request::new(code).with_grants(["github"])).await;
        match outcome.result {
            Err(isobox::SandboxError::ApprovalRequired(stop)) => {
                assert_eq!((stop.capability.as_str(), stop.method.as_str()), ("github", "issuesCreateComment"));
                assert_eq!(
                    stop.args,
                    json!([{ "owner": "octo", "repo": "hello", "issue_number": 7, "body": { "body": "hi" } }])
                );
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(outcome.calls.len(), 2, "{name}");
        assert!(outcome.calls[0].ok, "{name}: the read was made");
    }
}
