//! `isobox mcp` driven by a real client: the official MCP TypeScript SDK (`tests/mcp/client.mjs`, installed by
//! `scripts/setup.sh`) launches the server over stdio, lists its tools and calls them; every response is checked here.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const CLIENT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/mcp");

/// Runs `sessions` (each a list of tool calls) one after the other, each with a server of its own launched as
/// `isobox mcp ARGS` with its data in `data`; returns each session's `{server, instructions, tools, results}`.
fn drive(args: &[&str], data: &Path, sessions: Value) -> Vec<Value> {
    let sdk = Path::new(CLIENT_DIR).join("node_modules/@modelcontextprotocol/sdk");
    assert!(sdk.exists(), "{} is missing: run scripts/setup.sh (it installs the MCP SDK with npm)", sdk.display());
    let mut child = Command::new("node")
        .arg(Path::new(CLIENT_DIR).join("client.mjs"))
        .arg(env!("CARGO_BIN_EXE_isobox"))
        .arg("mcp")
        .args(args)
        .env("ISOBOX_DATA_DIR", data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/setup.sh installs it)");
    child.stdin.take().unwrap().write_all(sessions.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the client failed: {}", String::from_utf8_lossy(&output.stdout));
    let report: Value = serde_json::from_slice(&output.stdout).expect("the client prints one JSON object");
    report["sessions"].as_array().expect("sessions").clone()
}

fn search(query: Option<&str>) -> Value {
    match query {
        Some(query) => json!({ "name": "search", "arguments": { "query": query } }),
        None => json!({ "name": "search", "arguments": {} }),
    }
}

fn execute(code: &str) -> Value {
    json!({ "name": "execute", "arguments": { "code": code } })
}

/// The text of a tool result's only content block.
fn text(result: &Value) -> &str {
    let content = result["content"].as_array().unwrap_or_else(|| panic!("no content in {result}"));
    assert_eq!(content.len(), 1, "{result}");
    assert_eq!(content[0]["type"], "text", "{result}");
    content[0]["text"].as_str().unwrap()
}

/// An `execute` result: its `isError` flag and the outcome JSON, which must follow `isobox run --json`'s contract
/// (`truncated` only when the output was cut to the budget), as text only, with the call log apart in `_meta`.
fn outcome(result: &Value) -> (bool, Value) {
    let outcome: Value = serde_json::from_str(text(result)).unwrap_or_else(|_| panic!("not JSON: {result}"));
    let mut keys: Vec<&str> = outcome.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    keys.retain(|&key| !(key == "truncated" && outcome["truncated"] == true));
    assert_eq!(keys, ["error", "logs", "metrics", "ok", "result"], "{outcome}");
    assert!(result["_meta"]["isobox/calls"].is_array(), "the call log is in `_meta`: {result}");
    assert!(result.get("structuredContent").is_none(), "the outcome is not repeated as structured content: {result}");
    let is_error = result["isError"].as_bool().unwrap_or(false);
    assert_eq!(is_error, outcome["ok"] == false, "isError matches ok: {result}");
    (is_error, outcome)
}

fn ok(result: &Value) -> Value {
    let (is_error, outcome) = outcome(result);
    assert!(!is_error, "{outcome}");
    outcome
}

fn failed(result: &Value, kind: &str) -> Value {
    let (is_error, outcome) = outcome(result);
    assert!(is_error, "{outcome}");
    assert_eq!(outcome["error"]["kind"], kind, "{outcome}");
    assert!(outcome["error"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{outcome}");
    outcome["error"].clone()
}

#[test]
fn a_client_searches_and_executes() {
    let data = tempfile::tempdir().unwrap();
    let calls = json!([
        search(None),
        search(Some("get order")),
        execute("console.log('counting');\nconst delivered = await shop.listOrders({ status: 'delivered' });\nreturn delivered.length > 0;"),
        execute("throw new RangeError('boom')"),
        execute("const a = 1;\nconst b = ;"),
        execute("for (;;) {}"),
        { "name": "execute", "arguments": {
            "code": "type Ids = { ids: number[] };\nconst { ids }: Ids = input as Ids;\nreturn ids.reduce((a: number, b: number): number => a + b, 0);",
            "input": { "ids": [1, 2, 3] } } },
        execute("```ts\nconst customer: { name: string } | null = await shop.getCustomer(1);\nreturn customer!.name;\n```"),
        execute("```ts\nconst x: number = 1;\nenum Color { Red }\n```"),
        execute("const label: string = 'x';\nnull.boom(label);"),
        execute("globalThis.leak = 1;\nreturn await kv.increment('calls', 1);"),
        execute("return [typeof globalThis.leak, await kv.increment('calls', 1)];"),
        { "name": "execute", "arguments": {} },
        { "name": "execute", "arguments": { "code": 42 } },
        { "name": "nope", "arguments": {} },
    ]);
    let sessions = drive(&["--grant", "shop,kv", "--timeout-ms", "1000"], data.path(), json!([calls]));
    let session = &sessions[0];

    assert_eq!(session["server"]["name"], "isobox", "{session}");
    assert!(session["instructions"].as_str().unwrap().contains("search"), "{session}");
    let tools = session["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|tool| tool["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["search", "execute"]);
    for tool in tools {
        let description = tool["description"].as_str().unwrap();
        assert!(description.contains("`shop`, `kv`"), "the granted globals: {description}");
    }
    assert!(tools[1]["description"].as_str().unwrap().contains("1000 ms"), "{}", tools[1]);
    assert_eq!(tools[1]["inputSchema"]["required"], json!(["code"]));
    assert_eq!(tools[0]["annotations"]["readOnlyHint"], true);

    let results = session["results"].as_array().unwrap();
    assert_eq!(results.len(), calls.as_array().unwrap().len());

    // search: everything, then only what matches.
    let everything = text(&results[0]);
    assert!(everything.starts_with("/**\n * A small online shop"), "{everything}");
    assert!(everything.contains("declare const shop: {") && everything.contains("declare const kv: {"), "{everything}");
    assert!(everything.contains("listOrders(filter: OrderFilter): Promise<Order[]>;"), "{everything}");
    let found = text(&results[1]);
    assert!(found.contains("getOrder(id: number): Promise<Order>;") && found.contains("type OrderLine = {"), "{found}");
    // Ranked: the best match first, within the default budget.
    let first = found.lines().find(|line| line.starts_with("  ") && line.contains('(')).unwrap_or("");
    assert!(first.trim_start().starts_with("getOrder("), "{found}");
    assert!(found.len() <= isobox_mcp_budget(), "{found}");

    // execute: success with logs; the call log is for the client, apart from what the model reads.
    let success = ok(&results[2]);
    assert_eq!(success["result"], true);
    let logged = &results[2]["_meta"]["isobox/calls"];
    assert_eq!((&logged[0]["method"], &logged[0]["ok"]), (&json!("listOrders"), &json!(true)), "{logged}");
    assert_eq!(logged[0]["args"], json!([{ "status": "delivered" }]), "{logged}");
    assert_eq!(success["logs"], json!([{ "level": "log", "message": "counting" }]));
    assert_eq!(success["metrics"]["backend"], "wasm");

    // A thrown error, a syntax error and a timeout: typed errors, never a failed server.
    let thrown = failed(&results[3], "exception");
    assert_eq!((thrown["name"].as_str(), thrown["message"].as_str()), (Some("RangeError"), Some("boom")));
    let syntax = failed(&results[4], "syntax");
    assert_eq!((syntax["line"].as_u64(), syntax["column"].as_u64()), (Some(2), Some(11)), "{syntax}");
    let timeout = failed(&results[5], "timeout");
    assert_eq!(timeout["budget"], "wall_clock");

    // TypeScript, with input; TypeScript in a code fence; TypeScript that cannot be erased, refused where it is.
    assert_eq!(ok(&results[6])["result"], 6);
    assert!(ok(&results[7])["result"].as_str().is_some_and(|name| !name.is_empty()), "{}", results[7]);
    let refused = failed(&results[8], "syntax");
    assert_eq!((refused["line"].as_u64(), refused["column"].as_u64()), (Some(3), Some(1)), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("enum"), "{refused}");
    // A runtime error in TypeScript: its stack points at the line as the model wrote it.
    let stack = failed(&results[9], "exception")["stack"].as_str().unwrap().to_string();
    assert!(stack.contains("agent.js:2:"), "{stack}");

    // State: kv keeps the session's data; the sandbox keeps nothing.
    assert_eq!(ok(&results[10])["result"], 1);
    assert_eq!(ok(&results[11])["result"], json!(["undefined", 2]));

    // Bad arguments are tool errors the model can read; an unknown tool is a protocol error.
    assert_eq!(results[12]["isError"], true);
    assert!(text(&results[12]).contains("`code` is required"), "{}", results[12]);
    assert_eq!(results[13]["isError"], true);
    assert!(text(&results[13]).contains("`code` must be a string"), "{}", results[13]);
    assert!(results[14]["thrown"].as_str().is_some_and(|message| message.contains("nope")), "{}", results[14]);
}

#[test]
fn execute_runs_on_the_v8_backend_too() {
    let data = tempfile::tempdir().unwrap();
    let calls = json!([
        execute(
            "```ts\nconst orders: { total: number }[] = await shop.listOrders({ status: 'paid' });\nconsole.log(`${orders.length} paid`);\nreturn orders.length > 0;\n```"
        ),
        execute("const n: number = 1;\nthrow new RangeError(`n is ${n}`);"),
        execute("return await kv.increment('calls', 1);"),
        execute("return await kv.increment('calls', 1);"),
    ]);
    let sessions = drive(&["--grant", "shop,kv", "--backend", "v8"], data.path(), json!([calls]));
    let results = sessions[0]["results"].as_array().unwrap();
    let success = ok(&results[0]);
    assert_eq!(success["result"], true);
    assert_eq!(success["metrics"]["backend"], "v8");
    assert!(success["logs"][0]["message"].as_str().unwrap().ends_with(" paid"), "{success}");
    let thrown = failed(&results[1], "exception");
    assert_eq!(thrown["message"], "n is 1");
    assert!(thrown["stack"].as_str().unwrap().contains("agent.js:2:"), "{thrown}");
    assert_eq!((ok(&results[2])["result"].clone(), ok(&results[3])["result"].clone()), (json!(1), json!(2)));
}

#[test]
fn execute_fits_big_output_to_the_model_s_budget_on_both_backends() {
    let big = "console.log('a'.repeat(100000));\nreturn 'x'.repeat(5000000);";
    for backend in ["wasm", "v8"] {
        let data = tempfile::tempdir().unwrap();
        let calls = json!([
            execute(big),
            execute("console.log('note');\nreturn { small: [1, 2, 3] };"),
            { "name": "execute", "arguments": { "code": big, "result_tokens": 200 } },
            { "name": "execute", "arguments": { "code": "return 1", "result_tokens": 0 } },
        ]);
        let sessions = drive(&["--backend", backend, "--output-kb", "8192"], data.path(), json!([calls]));
        let execute_tool = &sessions[0]["tools"][1];
        assert!(
            execute_tool["description"].as_str().unwrap().contains("`result_tokens` (6000 by default)"),
            "{execute_tool}"
        );
        assert_eq!(execute_tool["inputSchema"]["properties"]["result_tokens"]["type"], "integer");
        let results = sessions[0]["results"].as_array().unwrap();

        // 5 MB of result and 100 KB of logs: cut to about 6,000 tokens between them, marked, and said so.
        let cut = ok(&results[0]);
        assert_eq!(cut["truncated"], true, "{backend}");
        let (result, logs) = (cut["result"].as_str().unwrap(), cut["logs"][0]["message"].as_str().unwrap());
        assert!(result.starts_with("xxx") && result.ends_with(" characters]"), "{backend}: {result}");
        assert!(logs.starts_with("aaa") && logs.ends_with(" characters]"), "{backend}: {logs}");
        let fitted = cut["result"].to_string().len() + cut["logs"].to_string().len();
        assert!((20_000..=24_000).contains(&fitted), "{backend}: {fitted} bytes for 6,000 tokens");

        // A small result is untouched.
        let small = ok(&results[1]);
        assert_eq!(small["result"], json!({ "small": [1, 2, 3] }));
        assert_eq!(small["logs"], json!([{ "level": "log", "message": "note" }]));
        assert!(small.get("truncated").is_none(), "{small}");

        // The call's own budget, within bounds.
        let smaller = ok(&results[2]);
        assert_eq!(smaller["truncated"], true);
        assert!(smaller["result"].to_string().len() + smaller["logs"].to_string().len() <= 800, "{smaller}");
        assert_eq!(results[3]["isError"], true);
        assert!(text(&results[3]).contains("`result_tokens` must be"), "{}", results[3]);
    }
}

#[test]
fn each_session_is_a_kv_tenant_of_its_own_unless_one_is_given() {
    let data = tempfile::tempdir().unwrap();
    let count = || json!([execute("return await kv.increment('sessions', 1)")]);
    let sessions = drive(&["--grant", "kv"], data.path(), json!([count(), count()]));
    for session in &sessions {
        assert_eq!(ok(&session["results"][0])["result"], 1, "a fresh tenant: {session}");
    }
    let sessions = drive(&["--grant", "kv", "--tenant", "team"], data.path(), json!([count(), count()]));
    assert_eq!(ok(&sessions[0]["results"][0])["result"], 1);
    assert_eq!(ok(&sessions[1]["results"][0])["result"], 2, "one tenant for every session: {}", sessions[1]);
}

#[test]
fn context_size_compares_code_mode_with_classic_tools() {
    let output = Command::new(env!("CARGO_BIN_EXE_isobox")).args(["mcp", "--grant", "shop", "--context-size"]).output();
    let output = output.unwrap();
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("Code Mode: search answer without a query") && table.contains("classic MCP"), "{table}");

    let unknown = Command::new(env!("CARGO_BIN_EXE_isobox")).args(["mcp", "--grant", "nope"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

/// The default size of a `search` answer (`isobox_mcp::DEFAULT_SEARCH_BUDGET`).
fn isobox_mcp_budget() -> usize {
    4000
}

/// What the issue asks of connectors, end to end: `isobox mcp --config isobox.toml --grant github,memory` with an
/// OpenAPI connector (against a local server answering as GitHub would) and a real MCP server from npm; a model finds
/// both with `search` and calls both from one program, and the credential never reaches it.
#[tokio::test]
async fn connectors_are_found_and_called_through_the_mcp_server() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/repos/octo/hello/pulls"))
        .and(wiremock::matchers::header("authorization", "Bearer kept-on-the-host"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!([
            { "number": 7, "title": "Fix it", "user": { "login": "ada" } }
        ])))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let memory = root.join("tests/mcp/node_modules/@modelcontextprotocol/server-memory/dist/index.js");
    let config = dir.path().join("isobox.toml");
    std::fs::write(
        &config,
        format!(
            "[connectors.github]\nopenapi = {:?}\nbase-url = \"{}\"\nheaders = {{ Authorization = \"Bearer kept-on-the-host\" }}\n\n\
             [connectors.memory]\nmcp = {{ command = \"node\", args = [{:?}], env = {{ MEMORY_FILE_PATH = {:?} }} }}\n",
            root.join("tests/openapi/api.github.com.json"),
            server.uri(),
            memory,
            dir.path().join("memory.jsonl"),
        ),
    )
    .unwrap();
    let program = "const prs = await github.pullsList({ owner: 'octo', repo: 'hello', state: 'open' });
        await memory.createEntities({ entities: prs.map((pr) => ({ name: `PR ${pr.number}`, entityType: 'pull request', observations: [pr.title] })) });
        const graph = await memory.readGraph();
        return graph.entities.map((e) => e.name + ': ' + e.observations.join());";
    let sessions = drive(
        &["--config", config.to_str().unwrap(), "--grant", "github,memory"],
        dir.path(),
        json!([[
            search(Some("list pull requests of a repository")),
            search(Some("create entities in the knowledge graph")),
            execute(program),
            execute("return await memory.createEntities({ entities: [{ name: 1 }] })"),
            json!({ "name": "search", "arguments": { "code":
                "return input.filter((f) => f.capability === 'github' && /pull request/i.test(f.summary) && f.params.includes('pull_number')).map((f) => f.method)" } }),
            json!({ "name": "search", "arguments": { "code": "return input", "budget": 1000 } }),
        ]]),
    );
    let results = sessions[0]["results"].as_array().unwrap();
    assert!(text(&results[0]).contains("  pullsList(params: {"), "{}", text(&results[0]));
    assert!(text(&results[1]).contains("  createEntities(args: {"), "{}", text(&results[1]));
    let (is_error, found) = outcome(&results[2]);
    assert!(!is_error, "{found}");
    assert_eq!(found["result"], json!(["PR 7: Fix it"]));
    let (is_error, wrong) = outcome(&results[3]);
    assert!(is_error && wrong["error"]["name"] == "TypeError", "{wrong}");
    // Searching the way it codes: a program over the catalogue, within the budget.
    let methods: Value = serde_json::from_str(text(&results[4])).unwrap();
    let methods: Vec<&str> = methods.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        methods.contains(&"pullsGet") && methods.contains(&"pullsMerge") && !methods.contains(&"pullsList"),
        "{methods:?}"
    );
    assert_eq!(results[5]["isError"], true, "{}", results[5]);
    assert!(text(&results[5]).contains("more than the budget of 1000"), "{}", results[5]);
    assert!(!sessions[0].to_string().contains("kept-on-the-host"), "the credential reached the client");
}

#[test]
fn execute_stops_for_approval_and_a_later_session_continues_the_run() {
    let program = "const before = await kv.get('a');\nawait kv.set('a', String(Math.random()));\nreturn [before, await kv.get('a')];";
    for backend in ["wasm", "v8"] {
        let data = tempfile::tempdir().unwrap();
        let args = ["--grant", "kv", "--require-approval", "kv.set", "--tenant", "team", "--backend", backend];
        let sessions = drive(&args, data.path(), json!([[execute(program)]]));
        let execute_tool = &sessions[0]["tools"][1];
        assert!(execute_tool["inputSchema"]["properties"]["approve"].is_object(), "{execute_tool}");
        assert!(execute_tool["description"].as_str().unwrap().contains("`approval_required`"), "{execute_tool}");
        let stopped = failed(&sessions[0]["results"][0], "approval_required");
        assert_eq!((&stopped["capability"], &stopped["method"]), (&json!("kv"), &json!("set")), "{stopped}");
        let run_id = stopped["run_id"].as_str().unwrap();

        // Another server process (a restart) continues it, once; approving twice finds nothing the second time.
        let approve = json!({ "name": "execute", "arguments": { "approve": run_id } });
        let both = json!({ "name": "execute", "arguments": { "approve": run_id, "code": "return 1" } });
        let sessions = drive(&args, data.path(), json!([[both, approve.clone(), approve]]));
        let results = sessions[0]["results"].as_array().unwrap();
        assert!(
            text(&results[0]).contains("not both") || text(&results[0]).contains("or `approve`/`deny`"),
            "{}",
            results[0]
        );
        let done = ok(&results[1]);
        let value = done["result"][1].as_str().unwrap().to_string();
        assert_eq!(done["result"], json!([null, value]), "{backend}: {done}");
        let logged = results[1]["_meta"]["isobox/calls"].as_array().unwrap();
        assert_eq!(logged[0]["replayed"], true, "{backend}: {results:?}");
        assert_eq!(results[2]["isError"], true);
        assert!(text(&results[2]).contains("not_found"), "{}", results[2]);
    }
}
