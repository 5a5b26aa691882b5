//! MCP connectors against the reference MCP servers (`@modelcontextprotocol/server-memory` and `server-everything`,
//! installed under `tests/mcp/node_modules` by `scripts/setup.sh`), run with `node`, over stdio and Streamable HTTP.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use isobox_capabilities::backend::CallOutcome;
use isobox_capabilities::{Capabilities, declarations};
use isobox_connectors::{McpConnector, McpServerConfig};
use isobox_core::Request;
use serde_json::{Value, json};

const SERVERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/node_modules/@modelcontextprotocol");
const TIMEOUT: Duration = Duration::from_secs(20);

fn node(server: &str, args: &[&str], env: &[(&str, &str)]) -> McpServerConfig {
    let script = Path::new(SERVERS).join(server).join("dist/index.js");
    assert!(script.exists(), "{} is missing: run scripts/setup.sh", script.display());
    McpServerConfig::Stdio {
        command: "node".into(),
        args: std::iter::once(script.display().to_string()).chain(args.iter().map(|arg| arg.to_string())).collect(),
        env: env.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect(),
        cwd: None,
    }
}

/// The connector's capability, registered alone.
fn register(connector: &McpConnector) -> Capabilities {
    let mut capabilities = Capabilities::new();
    capabilities.register(connector.capability()).unwrap();
    capabilities
}

/// `grant.method(...args)` as a sandbox would call it: `Ok` with the value it resolves to, `Err` with the error it
/// rejects with.
async fn call(capabilities: &Capabilities, grant: &str, method: &str, args: Value) -> Result<Value, Value> {
    let request = Request::new("").with_grants([grant]);
    match crate::common::call_granted(capabilities, &request, grant, method, &args).await {
        CallOutcome::Return(text) => Ok(serde_json::from_str(&text).unwrap()),
        CallOutcome::Throw(text) => Err(serde_json::from_str(&text).unwrap()),
        CallOutcome::Abort(error) => panic!("{method} ended the request: {error}"),
    }
}

/// Waits until process `pid` has exited: gone, or a zombie whose threads have all ended, so that it can be reaped.
fn wait_for_exit(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S …`: the state follows the last `)`.
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']));
        let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count);
        if zombie && threads <= 1 {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} is still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn memory_tools_are_typed_methods_whose_calls_reach_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("memory.jsonl").display().to_string();
    let config = node("server-memory", &[], &[("MEMORY_FILE_PATH", &file)]);
    let connector = McpConnector::connect("memory", &config, TIMEOUT, 1 << 20).await.unwrap();
    let capability = connector.capability();
    let interface = capability.interface();
    assert_eq!((interface.name.as_str(), interface.global.as_str()), ("memory", "memory"));
    let methods: Vec<&str> = interface.functions.iter().map(|function| function.method.as_str()).collect();
    for method in ["createEntities", "createRelations", "addObservations", "deleteEntities", "readGraph", "openNodes"] {
        assert!(methods.contains(&method), "{methods:?}");
    }
    let typescript = declarations([interface]);
    println!("{typescript}");
    assert!(typescript.contains("declare const memory: {"), "{typescript}");
    let create = typescript.lines().find(|line| line.contains("createEntities(")).unwrap();
    assert!(
        create.contains("createEntities(args: { entities: { ")
            && create.contains("name: string")
            && create.contains("observations: string[]"),
        "{create}"
    );
    // Its result is typed from the tool's outputSchema.
    assert!(create.contains("): Promise<{ entities: "), "{create}");
    // Nothing required: the argument may be left out.
    assert!(typescript.contains("readGraph(args?: "), "{typescript}");

    let capabilities = register(&connector);
    let ada = json!({ "name": "Ada", "entityType": "person", "observations": ["wrote the first program"] });
    let created = call(&capabilities, "memory", "createEntities", json!([{ "entities": [ada] }])).await.unwrap();
    assert_eq!(created["entities"][0]["name"], "Ada", "{created}");
    let graph = call(&capabilities, "memory", "readGraph", json!([])).await.unwrap();
    assert_eq!(graph["entities"], json!([ada]), "{graph}");

    // A wrong argument is a TypeError naming its place, and never reaches the server.
    let wrong = json!([{ "entities": [{ "name": 7, "entityType": "person", "observations": [] }] }]);
    let error = call(&capabilities, "memory", "createEntities", wrong).await.unwrap_err();
    assert_eq!(error["name"], "TypeError", "{error}");
    assert!(error["message"].as_str().unwrap().contains("`args.entities[0].name` must be string"), "{error}");
    let graph = call(&capabilities, "memory", "readGraph", json!([null])).await.unwrap();
    assert_eq!(graph["entities"].as_array().unwrap().len(), 1, "{graph}");

    // A tool's error (`isError`) rejects with its text.
    let missing = json!([{ "observations": [{ "entityName": "Nobody", "contents": ["x"] }] }]);
    let error = call(&capabilities, "memory", "addObservations", missing).await.unwrap_err();
    assert_eq!(error["name"], "Error", "{error}");
    assert!(error["message"].as_str().unwrap().contains("Entity with name Nobody not found"), "{error}");

    // The server's process is killed once the connector and its capabilities are gone.
    let pid = connector.process_id().await.unwrap();
    drop((capabilities, capability, connector));
    wait_for_exit(pid);
}

#[tokio::test]
async fn everything_results_errors_environment_timeouts_and_restarts() {
    let home = std::env::var("HOME").unwrap();
    let config = node("server-everything", &["stdio"], &[("GREETING", "hello ${HOME}")]);
    // One timeout for starting the server and for each call: long enough for node to start on a loaded machine (3 s
    // was not, once, with the other tests running), short of the slow operation below.
    let connector = McpConnector::connect("everything", &config, Duration::from_secs(10), 1 << 20).await.unwrap();
    let capability = connector.capability();
    let typescript = declarations([capability.interface()]);
    println!("{typescript}");
    let line = |method: &str| typescript.lines().find(|line| line.contains(&format!("  {method}("))).unwrap();
    assert!(line("getSum").contains("getSum(args: { /** First number */ a: number; /** Second number */ b: number"));
    let structured = line("getStructuredContent");
    assert!(structured.contains(r#"location: "New York" | "Chicago" | "Los Angeles""#), "{structured}");
    assert!(structured.contains("Promise<{ /** Weather conditions description */ conditions: string;"), "{structured}");
    assert!(line("getEnv").contains("getEnv(args?: "), "{typescript}");

    let capabilities = register(&connector);
    let sum = call(&capabilities, "everything", "getSum", json!([{ "a": 2, "b": 3 }])).await.unwrap();
    assert_eq!(sum, "The sum of 2 and 3 is 5.");
    // structuredContent, not the text beside it.
    let weather = call(&capabilities, "everything", "getStructuredContent", json!([{ "location": "Chicago" }])).await;
    assert_eq!(weather.unwrap(), json!({ "temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82 }));
    // An image is named, not carried.
    let image = call(&capabilities, "everything", "getTinyImage", json!([])).await.unwrap();
    let image = image.as_array().unwrap_or_else(|| panic!("several blocks: {image}"));
    assert!(image.contains(&json!({ "type": "image", "mimeType": "image/png" })), "{image:?}");
    // The process sees PATH, HOME and its configured environment, expanded, and nothing else of the host's.
    let env = call(&capabilities, "everything", "getEnv", json!([])).await.unwrap();
    let env: BTreeMap<String, String> = serde_json::from_value(env).unwrap();
    assert_eq!(env.keys().collect::<Vec<_>>(), ["GREETING", "HOME", "PATH"], "{env:?}");
    assert_eq!(env["GREETING"], format!("hello {home}"));

    // A call that takes too long fails within the timeout, and the session goes on.
    let started = Instant::now();
    let slow = json!([{ "duration": 30, "steps": 1 }]);
    let error = call(&capabilities, "everything", "triggerLongRunningOperation", slow).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    let message = error["message"].as_str().unwrap();
    assert_eq!(message, "the MCP server `everything` did not answer `trigger-long-running-operation` within 10000 ms");
    assert!(call(&capabilities, "everything", "getSum", json!([{ "a": 1, "b": 1 }])).await.is_ok());

    // A server that died is started again by the next calls, once, however many arrive at once.
    let pid = connector.process_id().await.unwrap();
    let killed = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    wait_for_exit(pid);
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let capabilities = capabilities.clone();
            tokio::spawn(async move { call(&capabilities, "everything", "getSum", json!([{ "a": i, "b": 1 }])).await })
        })
        .collect();
    for (i, sum) in calls.into_iter().enumerate() {
        assert_eq!(sum.await.unwrap().unwrap(), format!("The sum of {i} and 1 is {}.", i + 1));
    }
    let restarted = connector.process_id().await.unwrap();
    assert_ne!(restarted, pid);
}

#[tokio::test]
async fn what_a_server_started_is_killed_with_it() {
    // The server leaves a child behind, which does not read its standard input: only killing the group ends it.
    let script = Path::new(SERVERS).join("server-memory/dist/index.js");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("memory.jsonl").display().to_string();
    let config = McpServerConfig::Stdio {
        command: "sh".into(),
        args: vec!["-c".into(), format!("sleep 600 & exec node '{}'", script.display())],
        env: [("MEMORY_FILE_PATH".to_string(), file)].into(),
        cwd: None,
    };
    let connector = McpConnector::connect("memory", &config, TIMEOUT, 1 << 20).await.unwrap();
    let server = connector.process_id().await.unwrap();
    let children: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid: &u32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
            parent == Some(server)
        })
        .collect();
    assert_eq!(children.len(), 1, "the server's children: {children:?}");
    drop(connector);
    wait_for_exit(server);
    wait_for_exit(children[0]);
}

#[tokio::test]
async fn a_server_that_does_not_start_is_named() {
    let config = McpServerConfig::Stdio {
        command: "isobox-no-such-server".into(),
        args: vec![],
        env: BTreeMap::new(),
        cwd: None,
    };
    let error = McpConnector::connect("ghost", &config, TIMEOUT, 1 << 20).await.err().unwrap().to_string();
    assert!(error.starts_with("connector `ghost`: cannot start `isobox-no-such-server`"), "{error}");
    let config = McpServerConfig::Http {
        url: "http://127.0.0.1:9/mcp".into(),
        headers: [("Authorization".to_string(), "Bearer ${ISOBOX_TEST_SURELY_UNSET}".to_string())].into(),
    };
    let error = McpConnector::connect("tracker", &config, TIMEOUT, 1 << 20).await.err().unwrap().to_string();
    assert_eq!(error, "connector `tracker`: the environment variable `ISOBOX_TEST_SURELY_UNSET` is not set");
}

#[tokio::test]
async fn streamable_http_servers_are_reached() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = Path::new(SERVERS).join("server-everything/dist/index.js");
    let _server = tokio::process::Command::new("node")
        .arg(script)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not listen on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config = McpServerConfig::Http {
        url: format!("http://127.0.0.1:{port}/mcp"),
        headers: [("X-Home".to_string(), "${HOME}".to_string())].into(),
    };
    let connector = McpConnector::connect("everything", &config, TIMEOUT, 1 << 20).await.unwrap();
    assert_eq!(connector.process_id().await, None);
    let capabilities = register(&connector);
    let sum = call(&capabilities, "everything", "getSum", json!([{ "a": 20, "b": 22 }])).await.unwrap();
    assert_eq!(sum, "The sum of 20 and 22 is 42.");
    // Results larger than the connector allows are refused.
    let small = McpConnector::connect("tiny", &config, TIMEOUT, 16).await.unwrap();
    let error = call(&register(&small), "tiny", "getSum", json!([{ "a": 20, "b": 22 }])).await.unwrap_err();
    assert!(error["message"].as_str().unwrap().contains("more than the 16 allowed"), "{error}");
}
