//! `isobox serve`, started for real: one replica on a redb store; two replicas on a real PostgreSQL behind a real
//! nginx; the official MCP SDK's client over Streamable HTTP; a replica killed under load; SIGTERM draining.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const MCP_CLIENT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/mcp");
const NGINX_CONF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/nginx.conf");

const KEY_A: &str = "tenant-a-key-0123456789";
const KEY_B: &str = "tenant-b-key-0123456789";

/// One `isobox serve` process, killed when dropped.
struct Replica {
    child: Child,
    address: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    /// Starts `isobox serve --config CONFIG` on a free port and waits until it listens.
    fn start(config: &Path, data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_isobox"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--config"])
            .arg(config)
            .env("ISOBOX_DATA_DIR", data)
            .env("ISOBOX_TEST_KEY_A", KEY_A)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("isobox starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, receiver) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap());
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && event["message"] == "listening"
                {
                    let _ = sender.send(event["address"].as_str().unwrap().parse::<SocketAddr>().unwrap());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let address = receiver.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("isobox serve did not start:\n{}", log.lock().unwrap().join("\n"))
        });
        Self { child, address, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    let tls = isobox_http::tls_config().unwrap();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A response's status, headers and body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.body))
    }

    /// A refusal's `error.kind`, checking the refusal's shape.
    fn refused(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let body = self.json();
        assert!(body["error"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");
        body["error"]["kind"].as_str().unwrap().to_string()
    }
}

async fn send(request: reqwest::RequestBuilder, key: Option<&str>) -> Answer {
    let request = match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    };
    let response = request.send().await.expect("the server answers");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

async fn execute(url: &str, key: &str, body: Value) -> Answer {
    send(client().post(url).header("content-type", "application/json").body(body.to_string()), Some(key)).await
}

/// `isobox run --json` of `code` with `--grant GRANTS`: the outcome `/v1/execute` must match.
fn run_json(code: &str, grants: &str, data: &Path) -> Value {
    let file = data.join("program.js");
    std::fs::write(&file, code).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_isobox"))
        .args(["run", "--json", "--grant", grants])
        .arg(&file)
        .env("ISOBOX_DATA_DIR", data)
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap()
}

fn write_config(dir: &Path, store: &str, extra: &str) -> PathBuf {
    let key_b_hash: String = isobox_serve_sha256(KEY_B);
    let config = format!(
        r#"
        [serve]
        max-body-bytes = 65536
        drain-timeout-ms = 20000
        {store}

        [tenants.a]
        keys = ["${{ISOBOX_TEST_KEY_A}}"]
        grants = ["kv", "shop"]
        max-concurrent = 2
        limits = {{ timeout-ms = 5000, memory-mb = 64 }}

        [tenants.b]
        key-sha256 = ["{key_b_hash}"]
        grants = ["kv"]
        {extra}
        "#
    );
    let path = dir.join("isobox.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The hex SHA-256 of `key`, as `key-sha256` takes it (computed with `sha256sum`, independently of isobox).
fn isobox_serve_sha256(key: &str) -> String {
    let mut child = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), key.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8(output.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// Drives an MCP endpoint with the official SDK's client: one session making `calls`; returns its report.
fn mcp_session(url: &str, key: &str, calls: Value) -> Value {
    let sdk = Path::new(MCP_CLIENT_DIR).join("node_modules/@modelcontextprotocol/sdk");
    assert!(sdk.exists(), "{} is missing: run scripts/setup.sh", sdk.display());
    let mut child = Command::new("node")
        .arg(Path::new(MCP_CLIENT_DIR).join("client.mjs"))
        .arg(url)
        .env("ISOBOX_MCP_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), json!([calls]).to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the MCP client failed: {}", String::from_utf8_lossy(&output.stdout));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["sessions"][0].clone()
}

/// The outcome JSON of an MCP `execute` result.
fn mcp_outcome(result: &Value) -> Value {
    serde_json::from_str(result["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{result}"))).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_serves_its_tenants_and_refuses_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", "");
    let server = Replica::start(&config, dir.path());
    let execute_url = server.url("/v1/execute");
    let server_address = server.address;

    // A program that ran: 200, with exactly the JSON of `isobox run --json`.
    let code =
        "const p = await shop.listProducts(); console.log('n', p.length); return {n: p.length, first: p[0].name}";
    let answer = execute(&execute_url, KEY_A, json!({"code": code})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let outcome = answer.json();
    let expected = run_json(code, "shop", dir.path());
    assert_eq!(outcome["ok"], true, "{outcome}");
    for field in ["ok", "result", "error", "logs"] {
        assert_eq!(outcome[field], expected[field], "{field}: {outcome} vs {expected}");
    }
    let keys = |value: &Value| value.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&outcome), keys(&expected));
    // A program that failed is still a 200: the outcome says how it failed.
    let thrown = execute(&execute_url, KEY_A, json!({"code": "throw new TypeError('no')"})).await;
    assert_eq!((thrown.status, thrown.json()["error"]["kind"].as_str()), (200, Some("exception")));
    // TypeScript, and input.
    let typed = json!({"code": "const x: number = input.a; return x * 2", "typescript": true, "input": {"a": 21}});
    assert_eq!(execute(&execute_url, KEY_A, typed).await.json()["result"], 42);
    // Limits below the ceiling are taken; the deadline is the request's.
    let endless = json!({"code": "while (true) {}", "limits": {"timeout_ms": 200}});
    let endless = execute(&execute_url, KEY_A, endless).await.json();
    assert_eq!(endless["error"]["kind"], "timeout", "{endless}");
    assert!(endless["error"]["message"].as_str().unwrap().contains("200 ms"), "{endless}");
    // A budget for the result, as `isobox run --result-tokens`.
    let long = json!({"code": "return 'x'.repeat(100000)", "result-tokens": 50});
    let long = execute(&execute_url, KEY_A, long).await.json();
    assert_eq!((long["ok"].clone(), long["truncated"].clone()), (json!(true), json!(true)), "{long}");
    assert!(long["result"].as_str().unwrap().ends_with("…[cut 99,840 characters]"), "{long}");
    let zero = execute(&execute_url, KEY_A, json!({"code": "return 1", "result-tokens": 0})).await;
    assert_eq!(zero.refused(400), "invalid_request");

    // Keys.
    let no_key = send(client().post(&execute_url).body(json!({"code": "return 1"}).to_string()), None).await;
    assert_eq!(no_key.refused(401), "unauthorized");
    assert_eq!(no_key.headers["www-authenticate"], "Bearer");
    assert_eq!(
        execute(&execute_url, "wrong-key-0123456789", json!({"code": "return 1"})).await.refused(401),
        "unauthorized"
    );
    let basic = send(client().get(server.url("/v1/types")).header("authorization", format!("Basic {KEY_A}")), None);
    assert_eq!(basic.await.refused(401), "unauthorized");
    // Tenant b's key is configured as its hash.
    assert_eq!(execute(&execute_url, KEY_B, json!({"code": "return typeof kv"})).await.json()["result"], "object");

    // What the tenant may not do.
    let forbidden = execute(&execute_url, KEY_B, json!({"code": "return 1", "grants": ["shop"]})).await;
    assert_eq!(forbidden.refused(403), "forbidden");
    assert!(forbidden.body.contains("`shop`"), "{}", forbidden.body);
    let above = execute(&execute_url, KEY_A, json!({"code": "return 1", "limits": {"timeout_ms": 5001}})).await;
    assert_eq!(above.refused(403), "forbidden");
    assert!(above.body.contains("timeout-ms"), "{}", above.body);
    // A grant the request leaves out is not there.
    let narrowed = execute(&execute_url, KEY_A, json!({"code": "return typeof shop", "grants": ["kv"]})).await;
    assert_eq!(narrowed.json()["result"], "undefined");

    // Bad requests.
    for (body, expected) in [
        ("not json".to_string(), "not an execute request"),
        (json!({"code": 1}).to_string(), "invalid type"),
        (json!({"code": "return 1", "tenant": "b"}).to_string(), "unknown field"),
        (json!({"code": "return 1", "limits": {"memory_mb": 0}}).to_string(), "memory-mb"),
        ("[".repeat(10_000), "not an execute request"),
    ] {
        let answer = send(client().post(&execute_url).body(body), Some(KEY_A)).await;
        assert_eq!(answer.refused(400), "invalid_request");
        assert!(answer.body.contains(expected), "{expected}: {}", answer.body);
    }
    let huge = json!({"code": format!("return '{}'", "x".repeat(70_000))});
    assert_eq!(execute(&execute_url, KEY_A, huge).await.refused(413), "too_large");
    let body = [b"{\"code\": \"".as_slice(), &[b'x'; 70_000], b"\"}"];
    let answer = tokio::task::spawn_blocking(move || chunked(server_address, "/v1/execute", KEY_A, &body));
    let answer = answer.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains("too_large"), "{answer}");
    assert_eq!(send(client().get(server.url("/v2/nothing")), Some(KEY_A)).await.refused(404), "not_found");
    assert_eq!(send(client().get(&execute_url), Some(KEY_A)).await.refused(405), "method_not_allowed");

    // Tenants' kv are apart.
    let set = json!({"code": "await kv.set('secret', 'a-only'); return await kv.get('secret')"});
    assert_eq!(execute(&execute_url, KEY_A, set).await.json()["result"], "a-only");
    let peek = execute(&execute_url, KEY_B, json!({"code": "return await kv.get('secret')"})).await;
    assert_eq!(peek.json()["result"], Value::Null, "{}", peek.body);

    // Types and search, within the tenant's grants.
    let types = send(client().get(server.url("/v1/types?grants=kv")), Some(KEY_A)).await;
    assert_eq!(types.status, 200);
    assert!(types.body.contains("declare const kv") && !types.body.contains("declare const shop"), "{}", types.body);
    let all = send(client().get(server.url("/v1/types")), Some(KEY_B)).await;
    assert!(all.body.contains("declare const kv") && !all.body.contains("shop"), "{}", all.body);
    assert_eq!(send(client().get(server.url("/v1/types?grants=shop")), Some(KEY_B)).await.refused(403), "forbidden");
    let search = send(client().get(server.url("/v1/search?q=list+products+by+category")), Some(KEY_A)).await;
    assert!(search.status == 200 && search.body.contains("listProducts"), "{}", search.body);
    let budget = send(client().get(server.url("/v1/search?q=x&budget=5")), Some(KEY_A)).await;
    assert_eq!(budget.refused(400), "invalid_request");

    // A request id is echoed, or made.
    let traced = send(client().get(server.url("/healthz")).header("x-request-id", "trace-42"), None).await;
    assert_eq!(traced.headers["x-request-id"], "trace-42");
    let made = send(client().get(server.url("/healthz")).header("x-request-id", "bad id"), None).await;
    assert_eq!(made.headers["x-request-id"].len(), 32);

    // The tenant's concurrency cap: a third request while two run gets 429 with Retry-After.
    let slow = json!({"code": "const end = Date.now() + 1500; while (Date.now() < end) {} return 'slow'"});
    let running: Vec<_> = (0..2)
        .map(|_| tokio::spawn(execute(Box::leak(execute_url.clone().into_boxed_str()), KEY_A, slow.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let over = execute(&execute_url, KEY_A, json!({"code": "return 1"})).await;
    assert_eq!(over.refused(429), "too_many_requests");
    assert_eq!(over.headers["retry-after"], "1");
    // Another tenant is not held up by it.
    assert_eq!(execute(&execute_url, KEY_B, json!({"code": "return 2"})).await.json()["result"], 2);
    for running in running {
        assert_eq!(running.await.unwrap().json()["result"], "slow");
    }

    // MCP over Streamable HTTP with the official SDK: search, then execute; the tenant's kv is the REST one's.
    let session = mcp_session(
        &server.url("/mcp"),
        KEY_A,
        json!([
            {"name": "search", "arguments": {"query": "products"}},
            {"name": "execute", "arguments": {"code": "return await kv.get('secret')"}},
            {"name": "execute", "arguments": {"code": "await kv.set('from-mcp', 'yes'); return 1"}},
        ]),
    );
    assert_eq!(session["server"]["name"], "isobox", "{session}");
    let results = session["results"].as_array().unwrap();
    assert!(results[0]["content"][0]["text"].as_str().unwrap().contains("listProducts"), "{session}");
    assert_eq!(mcp_outcome(&results[1])["result"], "a-only", "{session}");
    let read = execute(&execute_url, KEY_A, json!({"code": "return await kv.get('from-mcp')"})).await;
    assert_eq!(read.json()["result"], "yes");
    let refused = Command::new("node")
        .arg(Path::new(MCP_CLIENT_DIR).join("client.mjs"))
        .arg(server.url("/mcp"))
        .env("ISOBOX_MCP_KEY", "wrong-key-0123456789")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"[[]]")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{}", String::from_utf8_lossy(&refused.stderr));

    // Metrics count what happened.
    let metrics = send(client().get(server.url("/metrics")), None).await.body;
    let counter = |line: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{line}\n{metrics}"))
    };
    assert!(counter("isobox_programs_total{outcome=\"ok\"}") >= 8);
    assert_eq!(counter("isobox_programs_total{outcome=\"timeout\"}"), 1);
    assert_eq!(counter("isobox_http_requests_total{endpoint=\"execute\",status=\"429\"}"), 1);
    assert!(counter("isobox_http_requests_total{endpoint=\"mcp\",status=\"200\"}") >= 3);
    assert_eq!(counter("isobox_sandboxes_in_use"), 0);
    // listProducts; kv.set and kv.get; tenant b's peek; MCP's kv.get and kv.set; the read of what MCP wrote.
    assert_eq!(counter("isobox_host_calls_total"), 7, "{metrics}");
    assert_eq!(send(client().get(server.url("/readyz")), None).await.status, 200);
    // Logs are one JSON object per line, with the tenant and no key.
    let log = server.log();
    assert!(log.contains("\"tenant\":\"a\"") && !log.contains(KEY_A), "{log}");

    // SIGTERM: the request in flight finishes, new connections are refused, the process ends well.
    let mut server = server;
    let in_flight = tokio::spawn(execute(Box::leak(execute_url.clone().into_boxed_str()), KEY_A, slow.clone()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(std::net::TcpStream::connect(server.address).is_err(), "still accepting after SIGTERM");
    assert_eq!(in_flight.await.unwrap().json()["result"], "slow");
    let status = wait_exit(&mut server.child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(server.log().contains("draining"), "{}", server.log());
}

/// The child's exit status, within `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < limit, "the process did not end within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends a body in chunks, with no length given ahead (raw HTTP/1.1); returns the response's status line and body.
fn chunked(address: SocketAddr, path: &str, key: &str, chunks: &[&[u8]]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    for chunk in chunks {
        // The server may answer and close before the whole body is sent.
        if write!(stream, "{:x}\r\n", chunk.len())
            .and_then(|()| stream.write_all(chunk))
            .and_then(|()| stream.write_all(b"\r\n"))
            .is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// nginx with `examples/nginx.conf`, in front of two replicas; stopped when dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    fn start(dir: &Path, upstreams: [u16; 2]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = std::fs::read_to_string(NGINX_CONF)
            .unwrap()
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
            .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", upstreams[0]))
            .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", upstreams[1]));
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let nginx = ["/usr/sbin/nginx", "nginx"].into_iter().find(|path| Path::new(path).exists()).unwrap_or("nginx");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .spawn()
            .expect("nginx starts (scripts/setup.sh installs it)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "nginx did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    /// SIGTERM, so that the master stops its worker too (a killed master leaves its worker running, holding the
    /// port and the test's output); SIGKILL only if it has not ended within a few seconds.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let started = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds a top-level `require-approval = [FUNCTION]` to the configuration at `config`.
fn gate(config: &Path, function: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(config, format!("require-approval = [\"{function}\"]\n{text}")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_stopped_for_approval_survive_a_restart_and_are_decided_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", "");
    gate(&config, "kv.delete");
    let code = "await kv.set('k', 'v'); try { return [await kv.delete('k'), await kv.get('k')]; } catch (e) { return e.message; }";
    let mut stops = Vec::new();
    {
        let server = Replica::start(&config, dir.path());
        for _ in 0..2 {
            let stopped = execute(&server.url("/v1/execute"), KEY_A, json!({ "code": code })).await.json();
            assert_eq!(
                (&stopped["error"]["capability"], &stopped["error"]["method"]),
                (&json!("kv"), &json!("delete"))
            );
            stops.push(format!("/v1/runs/{}", stopped["error"]["run_id"].as_str().unwrap()));
        }
    }
    // A new process: the runs were kept.
    let server = Replica::start(&config, dir.path());
    let pending = send(client().get(server.url(&stops[0])), Some(KEY_A)).await;
    assert_eq!(pending.status, 200, "{}", pending.body);
    let pending = pending.json();
    assert_eq!((&pending["method"], &pending["args"]), (&json!("delete"), &json!(["k"])), "{pending}");
    // Another tenant's key finds nothing; nor does an id that is not one.
    assert_eq!(send(client().get(server.url(&stops[0])), Some(KEY_B)).await.refused(404), "not_found");
    let bogus = send(client().post(server.url("/v1/runs/nope/approve")), Some(KEY_A)).await;
    assert_eq!(bogus.refused(404), "not_found");

    let approved = send(client().post(server.url(&format!("{}/approve", stops[0]))), Some(KEY_A)).await;
    assert_eq!(approved.json()["result"], json!([true, null]), "{}", approved.body);
    let deny = client().post(server.url(&format!("{}/deny", stops[1]))).body(r#"{"reason": "keep it"}"#);
    let denied = send(deny, Some(KEY_A)).await.json();
    assert_eq!(denied["result"], "kv.delete was denied: keep it", "{denied}");
    assert_eq!(send(client().get(server.url(&stops[1])), Some(KEY_A)).await.refused(404), "not_found");
}

/// A counter line of a `/metrics` answer.
async fn metric(replica: &Replica, line: &str) -> u64 {
    let metrics = send(client().get(replica.url("/metrics")), None).await.body;
    metrics.lines().find_map(|l| l.strip_prefix(line)?.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_on_postgres_behind_nginx_share_state_and_survive_a_killed_one() {
    let postgres = isobox_testkit::TempPostgres::start().expect("PostgreSQL starts (scripts/setup.sh installs it)");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &format!("[store]\npostgres = \"{}\"", postgres.url()), "");
    gate(&config, "kv.delete");
    let mut one = Replica::start(&config, &dir.path().join("one"));
    let two = Replica::start(&config, &dir.path().join("two"));
    assert_eq!(send(client().get(one.url("/readyz")), None).await.status, 200);

    // A run stopped for approval on one replica is continued by the other: the store holds it.
    let doomed = json!({"code": "await kv.set('doomed', 'x'); const n = await kv.increment('approvals', 1); return [n, await kv.delete('doomed')]"});
    let stopped = execute(&one.url("/v1/execute"), KEY_A, doomed).await.json();
    assert_eq!(stopped["error"]["kind"], "approval_required", "{stopped}");
    let run = format!("/v1/runs/{}", stopped["error"]["run_id"].as_str().unwrap());
    let approved = send(client().post(two.url(&format!("{run}/approve"))), Some(KEY_A)).await;
    assert_eq!((approved.status, approved.json()["result"].clone()), (200, json!([1, true])), "{}", approved.body);
    let count = execute(&one.url("/v1/execute"), KEY_A, json!({"code": "return await kv.get('approvals')"})).await;
    assert_eq!(count.json()["result"], "1", "the increment before the stop was made once");
    assert_eq!(send(client().post(one.url(&format!("{run}/approve"))), Some(KEY_A)).await.refused(404), "not_found");

    // Written through one replica, read through the other; tenants apart on the shared store too.
    let set = json!({"code": "await kv.set('shared', 'across'); return 1"});
    assert_eq!(execute(&one.url("/v1/execute"), KEY_A, set).await.json()["result"], 1);
    let get = json!({"code": "return await kv.get('shared')"});
    assert_eq!(execute(&two.url("/v1/execute"), KEY_A, get.clone()).await.json()["result"], "across");
    assert_eq!(execute(&two.url("/v1/execute"), KEY_B, get).await.json()["result"], Value::Null);

    // An MCP session through nginx's round robin: its requests alternate between the replicas and it keeps working.
    let nginx = Nginx::start(&dir.path().join("nginx"), [one.address.port(), two.address.port()]);
    let increment = json!({"name": "execute", "arguments": {"code": "return await kv.increment('mcp-calls', 1)"}});
    let session = mcp_session(&nginx.url("/mcp"), KEY_A, json!([increment, increment, increment, increment]));
    let counts: Vec<Value> =
        session["results"].as_array().unwrap().iter().map(|r| mcp_outcome(r)["result"].clone()).collect();
    assert_eq!(counts, [1, 2, 3, 4], "{session}");
    let mcp = "isobox_http_requests_total{endpoint=\"mcp\",status=\"200\"}";
    let (on_one, on_two) = (metric(&one, mcp).await, metric(&two, mcp).await);
    assert!(on_one >= 2 && on_two >= 2, "the session's requests went to both replicas: {on_one} and {on_two}");

    // Load on both replicas; one is killed (SIGKILL) in the middle of it. The other answers every request it gets, and
    // every write acknowledged by either is there afterwards.
    let targets = [one.url("/v1/execute"), two.url("/v1/execute")];
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (targets, stop) = (targets.clone(), Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (target, key) = (n % 2, format!("load-{worker}-{n}"));
                let body = json!({"code": "await kv.set(input, 'v'); return input", "input": key});
                let request = client().post(&targets[target]).bearer_auth(KEY_B).body(body.to_string()).send().await;
                let answer = match request {
                    Ok(response) => Some((response.status().as_u16(), response.text().await.unwrap_or_default())),
                    Err(_) => None,
                };
                answers.push((target, key, answer));
                n += 1;
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    one.child.kill().unwrap();
    one.child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    let (mut refused_by_dead, mut served_by_two) = (0, 0);
    for worker in workers {
        for (target, key, answer) in worker.await.unwrap() {
            match answer {
                Some((200, body)) if serde_json::from_str::<Value>(&body).unwrap()["ok"] == true => {
                    served_by_two += usize::from(target == 1);
                    acknowledged.push(key);
                }
                None if target == 0 => refused_by_dead += 1,
                other => panic!("replica {} answered {other:?} for {key}", target + 1),
            }
        }
    }
    assert!(refused_by_dead > 0 && served_by_two > 20, "{refused_by_dead} refused, {served_by_two} served by two");
    for keys in acknowledged.chunks(400) {
        let check = json!({
            "code": "const missing = []; for (const k of input) if (await kv.get(k) !== 'v') missing.push(k); return missing",
            "input": keys,
        });
        let answer = execute(&two.url("/v1/execute"), KEY_B, check).await.json();
        assert_eq!(answer["result"], json!([]), "acknowledged writes lost: {answer}");
    }
    // nginx sends everything to the replica left, no request failing.
    for _ in 0..10 {
        let answer = execute(&nginx.url("/v1/execute"), KEY_A, json!({"code": "return await kv.get('shared')"})).await;
        assert_eq!((answer.status, answer.json()["result"].clone()), (200, json!("across")), "{}", answer.body);
    }
}

/// A bounded load test with wrk (`tests/serve/wrk-execute.lua`): a small program at 2 and at 64 connections, 3 s each,
/// every answer an `ok` outcome. The figures are printed (`--nocapture`); no threshold, as machines differ.
#[test]
fn load_with_wrk_gets_every_answer_right() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("isobox.toml");
    std::fs::write(
        &config,
        "[tenants.a]\nkeys = [\"${ISOBOX_TEST_KEY_A}\"]\ngrants = [\"kv\"]\nmax-concurrent = 128\n",
    )
    .unwrap();
    let server = Replica::start(&config, dir.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/serve/wrk-execute.lua");
    for connections in ["2", "64"] {
        let output = Command::new("wrk")
            .args(["-t2", "-c", connections, "-d3s", "--latency", "-s", script])
            .arg(server.url("/v1/execute"))
            .env("ISOBOX_KEY", KEY_A)
            .output()
            .expect("wrk runs (scripts/setup.sh installs it)");
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{report}");
        let line = report.lines().find(|line| line.starts_with("isobox: ")).unwrap_or_else(|| panic!("{report}"));
        println!(
            "{connections} connections: {line}; {}",
            report.lines().find(|l| l.starts_with("Requests/sec")).unwrap()
        );
        let requests: u64 = line["isobox: requests ".len()..].split(',').next().unwrap().parse().unwrap();
        assert!(requests > 0 && line.contains("failed 0,"), "{report}");
        assert!(!report.contains("Non-2xx") && !report.contains("Socket errors"), "{report}");
    }
}
