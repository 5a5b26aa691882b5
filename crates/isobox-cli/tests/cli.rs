//! `isobox run` as a user calls it: the JSON contract, human output and exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn isobox(args: &[&str], stdin: &str) -> Output {
    isobox_with(args, stdin, None)
}

/// `isobox ARGS` with `stdin`, its data in `data` when given.
fn isobox_with(args: &[&str], stdin: &str, data: Option<&std::path::Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_isobox"));
    if let Some(data) = data {
        command.env("ISOBOX_DATA_DIR", data);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("isobox starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs a program from standard input with `--json` and returns the exit code and the one JSON object printed.
fn run_json(code: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["run", "--json"];
    args.extend_from_slice(extra);
    args.push("-");
    let output = isobox(&args, code);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one line of JSON: {stdout}");
    let json: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    (output.status.code().unwrap(), json)
}

fn assert_contract(json: &Value) {
    let object = json.as_object().unwrap();
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["calls", "error", "logs", "metrics", "ok", "result"]);
    for metric in ["start_us", "run_us", "total_us"] {
        assert!(json["metrics"][metric].is_u64(), "metrics.{metric} in {json}");
    }
}

#[test]
fn success_prints_the_contract_and_exits_zero() {
    let (code, json) =
        run_json("console.warn('note'); return { sum: input.a + input.b }", &["--input", r#"{"a": 1, "b": 2}"#]);
    assert_eq!(code, 0);
    assert_contract(&json);
    assert_eq!(json["ok"], true);
    assert_eq!(json["result"], json!({"sum": 3}));
    assert_eq!(json["error"], Value::Null);
    assert_eq!(json["logs"], json!([{"level": "warn", "message": "note"}]));
}

#[test]
fn every_error_kind_follows_the_contract_and_exits_one() {
    let cases: [(&str, &[&str], &str); 6] = [
        ("return 1 +", &[], "syntax"),
        ("throw new Error('boom')", &[], "exception"),
        ("for (;;) {}", &["--timeout-ms", "200"], "timeout"),
        ("const a = []; for (;;) a.push(new Array(1e5).fill(1))", &["--memory-mb", "16"], "memory"),
        ("function f() { f() } f()", &[], "stack_overflow"),
        ("return 'x'.repeat(4096)", &["--output-kb", "1"], "output_limit"),
    ];
    for (program, flags, kind) in cases {
        let (code, json) = run_json(program, flags);
        assert_eq!(code, 1, "{program}: {json}");
        assert_contract(&json);
        assert_eq!(json["ok"], false);
        assert_eq!(json["result"], Value::Null);
        assert_eq!(json["error"]["kind"], kind, "{program}: {json}");
        assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{json}");
    }
}

#[test]
fn fuel_budget_times_out_with_the_fuel_budget() {
    let (code, json) = run_json("for (;;) {}", &["--fuel", "100000"]);
    assert_eq!(code, 1);
    assert_eq!(json["error"]["kind"], "timeout");
    assert_eq!(json["error"]["budget"], "fuel");
}

#[test]
fn cpu_budget_times_out_with_the_cpu_budget_on_both_backends() {
    for backend in ["wasm", "v8"] {
        let (code, json) = run_json("for (;;) {}", &["--cpu-ms", "50", "--backend", backend]);
        assert_eq!(code, 1, "{backend}: {json}");
        assert_eq!(
            (json["error"]["kind"].as_str(), json["error"]["budget"].as_str()),
            (Some("timeout"), Some("cpu_time"))
        );
        assert!(json["error"]["message"].as_str().unwrap().contains("50 ms of CPU time"), "{json}");
    }
    let refused = isobox(&["run", "--cpu-ms", "0", "-"], "return 1");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--cpu-ms"));
}

#[test]
fn syntax_errors_carry_their_position() {
    let (_, json) = run_json("const a = 1;\nconst b = ;", &[]);
    assert_eq!(json["error"]["line"], 2);
    assert_eq!(json["error"]["column"], 11);
}

#[test]
fn human_output_shows_result_logs_and_costs() {
    let output = isobox(&["run", "-"], "console.log('hello'); return [1, 2]");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap(), json!([1, 2]));
    assert!(stderr.contains("[log] hello"), "{stderr}");
    assert!(stderr.contains("start") && stderr.contains("µs"), "{stderr}");
}

#[test]
fn human_output_explains_a_failure() {
    let output = isobox(&["run", "-"], "throw new TypeError('nope')");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("error[exception]: uncaught TypeError: nope"), "{stderr}");
}

/// TypeScript is erased on a stack that fits any nesting its length allows: a deep program is the program's error,
/// never the end of the host.
#[test]
fn deeply_nested_typescript_is_the_program_s_error() {
    let deep = format!("return {}1{}", "[".repeat(3000), "]".repeat(3000));
    let (code, json) = run_json(&deep, &["--typescript"]);
    assert_eq!(code, 1, "{json}");
    // However it ends (QuickJS's own depth bound, or a result deeper than isobox returns), it is the program's error.
    let kind = json["error"]["kind"].as_str().unwrap();
    assert!(["stack_overflow", "syntax", "exception"].contains(&kind), "{json}");
    let (code, json) = run_json(&"(".repeat(60_000), &["--typescript"]);
    assert_eq!((code, json["error"]["kind"].as_str()), (1, Some("syntax")), "{json}");
}

/// A program's output cannot pass for isobox's own lines, nor act on the terminal.
#[test]
fn human_output_escapes_what_the_program_wrote() {
    let code = "console.log('one\\nok · wasm backend\\u001b]52;c;aGk=\\u0007');
        console.log('\\u202etxt.exe', 'tab\\there · é');
        throw new Error('a\\rb')";
    let output = isobox(&["run", "-"], code);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("[log] one\n[log] ok · wasm backend\\u{1b}]52;c;aGk=\\u{7}\n"), "{stderr}");
    // Unicode's controls that reorder text and the C0 controls are escaped; other text is left as it is.
    assert!(stderr.contains("[log] \\u{202e}txt.exe tab\\u{9}here · é\n"), "{stderr}");
    assert!(stderr.contains("uncaught Error: a\\u{d}b"), "{stderr}");
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\r'), "{stderr}");
}

#[test]
fn limits_out_of_range_are_usage_errors() {
    for flag in
        [["--stack-kb", "4194304"], ["--memory-mb", "0"], ["--output-kb", "99999999999999"], ["--timeout-ms", "0"]]
    {
        let output = isobox(&["run", flag[0], flag[1], "-"], "return 1");
        assert_eq!(output.status.code(), Some(2), "{flag:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn usage_errors_exit_two() {
    for args in [&["run", "--input", "{not json", "-"][..], &["run", "/no/such/file.js"], &["run"], &["frobnicate"]] {
        let output = isobox(args, "");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn runs_the_example_agent_with_a_granted_capability() {
    let agent = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/agent.js");
    let output = isobox(&["run", "--json", "--grant", "shop", agent], "");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let top = json["result"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    assert!(top[0]["spent"].as_f64() >= top[1]["spent"].as_f64());
    assert!(json["logs"][0]["message"].as_str().unwrap().contains("delivered orders"));

    let ungranted = isobox(&["run", "--json", agent], "");
    let json: Value = serde_json::from_slice(&ungranted.stdout).unwrap();
    assert_eq!(json["error"]["name"], "ReferenceError", "{json}");
}

#[test]
fn caps_lists_and_types_declares_the_capabilities() {
    let caps = String::from_utf8(isobox(&["caps"], "").stdout).unwrap();
    assert!(caps.contains("kv") && caps.contains("shop") && caps.contains("listOrders"), "{caps}");

    let types = isobox(&["types", "--grant", "shop"], "");
    assert_eq!(types.status.code(), Some(0));
    let types = String::from_utf8(types.stdout).unwrap();
    assert!(types.contains("declare const shop: {"), "{types}");
    assert!(types.contains("listOrders(filter: OrderFilter): Promise<Order[]>;"), "{types}");
    assert!(!types.contains("declare const kv"), "{types}");

    let unknown = isobox(&["types", "--grant", "nope"], "");
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn kv_state_survives_between_runs() {
    let data = tempfile::tempdir().unwrap();
    let run = |code: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_isobox"))
            .args(["run", "--json", "--grant", "kv", "--tenant", "cli-test", "-"])
            .env("ISOBOX_DATA_DIR", data.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(code.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    assert_eq!(run("return await kv.increment('runs', 1)")["result"], 1);
    assert_eq!(run("return await kv.increment('runs', 1)")["result"], 2);
}

#[test]
fn the_v8_backend_honours_the_same_contract() {
    let (code, json) = run_json("console.info('v8 here'); return { sum: 1 + 2 }", &["--backend", "v8"]);
    assert_eq!(code, 0, "{json}");
    assert_contract(&json);
    assert_eq!(json["result"], json!({"sum": 3}));
    assert_eq!(json["logs"], json!([{"level": "info", "message": "v8 here"}]));
    assert_eq!(json["metrics"]["backend"], "v8");

    let (code, json) = run_json("throw new RangeError('nope')", &["--backend", "v8"]);
    assert_eq!(code, 1);
    assert_eq!(json["error"]["kind"], "exception");
    assert_eq!(json["error"]["name"], "RangeError");
}

/// A program whose result is about 5 MB of JSON: a long string and many objects.
const FIVE_MEGABYTES: &str = "console.log('made it');\n\
    return { text: 'é'.repeat(2 << 20), rows: Array.from({ length: 30000 }, (_, id) => ({ id, name: `row ${id}` })) };";

#[test]
fn result_tokens_fit_a_big_result_to_the_budget_on_both_backends() {
    for backend in ["wasm", "v8"] {
        let flags = ["--backend", backend, "--output-kb", "8192"];
        // Without a budget: the whole result.
        let (code, json) = run_json(FIVE_MEGABYTES, &flags);
        assert_eq!(code, 0, "{backend}: {}", json["error"]);
        assert_contract(&json);
        assert_eq!(json["result"]["text"].as_str().unwrap().chars().count(), 2 << 20, "{backend}");
        assert_eq!(json["result"]["rows"].as_array().unwrap().len(), 30000, "{backend}");

        // With one: cut, marked, and said so; still a success.
        let (code, json) = run_json(FIVE_MEGABYTES, &[&flags[..], &["--result-tokens", "1000"]].concat());
        assert_eq!(code, 0, "{backend}: {json}");
        assert_eq!(json["truncated"], true, "{backend}");
        assert_eq!((json["ok"].clone(), json["error"].clone()), (json!(true), Value::Null));
        let result = &json["result"];
        let fitted = result.to_string().len() + json["logs"].to_string().len();
        assert!(fitted <= 1000 * 4, "{backend}: {fitted} bytes of result and logs: {result}");
        let text = result["text"].as_str().unwrap();
        assert!(text.starts_with("éé") && text.ends_with(" characters]") && text.contains("…[cut "), "{text}");
        let rows = result["rows"].as_array().unwrap();
        assert_eq!(rows[0], json!({"id": 0, "name": "row 0"}), "{backend}");
        let marker = rows.last().unwrap().as_str().unwrap();
        assert_eq!(marker, format!("…[cut {} more items]", group(30000 - (rows.len() - 1))), "{backend}");
        assert_eq!(json["logs"], json!([{"level": "log", "message": "made it"}]), "{backend}");

        // A result within the budget is untouched, and the report says nothing of a budget.
        let (code, json) =
            run_json("return [1, 'two', { three: 3 }]", &["--backend", backend, "--result-tokens", "1000"]);
        assert_eq!(code, 0);
        assert_contract(&json);
        assert_eq!(json["result"], json!([1, "two", {"three": 3}]));
    }

    // For a person: the cut result, and a word that it was cut.
    let output = isobox(&["run", "--result-tokens", "50", "-"], "return 'x'.repeat(100000)");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.trim_end().ends_with("…[cut 99,840 characters]\""), "{stdout}");
    assert!(String::from_utf8(output.stderr).unwrap().contains("output cut to the token budget"));

    let refused = isobox(&["run", "--result-tokens", "0", "-"], "return 1");
    assert_eq!(refused.status.code(), Some(2));
}

/// `12,345`.
fn group(count: usize) -> String {
    let digits = count.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[test]
fn both_backends_side_by_side() {
    let (code, json) = run_json("return [1, 'two', { three: 3 }]", &["--backend", "both"]);
    assert_eq!(code, 0, "{json}");
    for backend in ["wasm", "v8"] {
        assert_contract(&json[backend]);
        assert_eq!(json[backend]["result"], json!([1, "two", {"three": 3}]), "{backend}");
        assert_eq!(json[backend]["metrics"]["backend"], backend);
    }
    let output = isobox(&["run", "--backend", "both", "-"], "return 42");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("v8 vs wasm: same outcome"), "{stderr}");
}

#[test]
fn compile_then_call_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("greet.js");
    std::fs::write(&source, "export function greet(input) { console.log('greeting'); return `hello ${input.name}` }\nexport const boom = () => { throw new TypeError('bad') };").unwrap();
    let module = dir.path().join("greet.wasm");
    let output = isobox(&["compile", source.to_str().unwrap(), "-o", module.to_str().unwrap()], "");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("dynamic linking), exports: greet, boom"), "{stderr}");

    let call = |args: &[&str]| {
        let mut all = vec!["call", "--json", module.to_str().unwrap()];
        all.extend_from_slice(args);
        let output = isobox(&all, "");
        let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
        (output.status.code().unwrap(), json)
    };
    let (code, json) = call(&["greet", "--input", r#"{"name": "plugin"}"#]);
    assert_eq!(code, 0, "{json}");
    assert_contract(&json);
    assert_eq!(json["result"], "hello plugin");
    assert_eq!(json["logs"], json!([{"level": "log", "message": "greeting"}]));

    let (code, json) = call(&["boom"]);
    assert_eq!(code, 1);
    assert_contract(&json);
    assert_eq!(json["error"]["name"], "TypeError");
    let (code, json) = call(&["greet", "--input", "{}", "--fuel", "1000"]);
    assert_eq!((code, json["error"]["budget"].as_str()), (1, Some("fuel")));
}

#[test]
fn plugins_that_do_not_compile_or_load_are_errors_of_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("broken.js");
    std::fs::write(&source, "export function f(input) {\n  return input +;\n}").unwrap();
    let output = isobox(&["compile", source.to_str().unwrap(), "-o", dir.path().join("x.wasm").to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8(output.stderr).unwrap().contains("syntax error at 2:"));

    let output = isobox(&["call", source.to_str().unwrap(), "f"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8(output.stderr).unwrap().contains("not a WebAssembly module"));
}

#[test]
fn typescript_and_fenced_programs_run_with_their_positions() {
    let (code, json) = run_json("const n: number = input;\nreturn n * 2;", &["--typescript", "--input", "21"]);
    assert_eq!((code, &json["result"]), (0, &json!(42)), "{json}");
    let (code, json) = run_json("```ts\nconst n: number = 1;\nthrow new Error(`n is ${n}`);\n```", &[]);
    assert_eq!(code, 1);
    assert!(json["error"]["stack"].as_str().unwrap().contains("agent.js:3:"), "the fence line counts: {json}");
    let (_, json) = run_json("```ts\nenum Color { Red }\n```", &[]);
    assert_eq!((json["error"]["kind"].as_str(), json["error"]["line"].as_u64()), (Some("syntax"), Some(2)), "{json}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.ts");
    std::fs::write(&file, "const xs: number[] = [1, 2];\nreturn xs.length;").unwrap();
    let output = isobox(&["run", "--json", file.to_str().unwrap()], "");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["result"], 2, "a .ts file is TypeScript: {json}");
    // Other programs are JavaScript: `a < b > (c)` compares here, where TypeScript would read a generic call.
    let comparison = "const a = 1, b = 2, c = 3;\nreturn a < b > (c);";
    assert_eq!(run_json(comparison, &[]).1["result"], false);
    assert_eq!(run_json(comparison, &["--typescript"]).1["error"]["name"], "TypeError");

    // The V8 backend gets the same JavaScript.
    let (code, json) =
        run_json("```ts\nconst n: number = 1;\nthrow new Error(`n is ${n}`);\n```", &["--backend", "both"]);
    assert_eq!(code, 1);
    for backend in ["wasm", "v8"] {
        assert_eq!(json[backend]["error"]["message"], "n is 1", "{json}");
        let stack = json[backend]["error"]["stack"].as_str().unwrap();
        assert!(stack.contains("agent.js:3:"), "{backend}: {stack}");
    }
}

#[tokio::test]
async fn http_reaches_only_the_allowed_origins() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/rates"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({"EUR": 1.5})))
        .mount(&server)
        .await;
    let code = format!("const r = await http.fetch('{}/rates'); return JSON.parse(r.body)", server.uri());

    let (exit, json) = run_json(&code, &["--grant", "http", "--allow-origin", &server.uri()]);
    assert_eq!((exit, &json["result"]), (0, &json!({"EUR": 1.5})), "{json}");

    let (exit, json) = run_json(&code, &["--grant", "http"]);
    assert_eq!((exit, &json["error"]["kind"]), (1, &json!("exception")), "{json}");
    assert!(json["error"]["message"].as_str().unwrap().contains("allows no outbound HTTP"), "{json}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "only the allowed run reached the server");
}

#[test]
fn an_invalid_tenant_is_a_usage_error() {
    let long = "t".repeat(129);
    for args in [&["run", "--tenant", "a/b", "-"][..], &["run", "--tenant", "", "-"], &["run", "--tenant", &long, "-"]]
    {
        let output = isobox(args, "return 1");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("tenant"), "{args:?}: {stderr}");
    }
    let output = isobox(&["mcp", "--tenant", "a b"], "");
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn http_refuses_names_that_resolve_to_private_addresses_unless_allowed() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/local"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("inside"))
        .mount(&server)
        .await;
    let by_name = format!("http://localhost:{}", server.address().port());
    let code = format!("const r = await http.fetch('{by_name}/local'); return r.body");

    let (exit, json) = run_json(&code, &["--grant", "http", "--allow-origin", &by_name]);
    assert_eq!(exit, 1, "{json}");
    assert!(json["error"]["message"].as_str().unwrap().contains("resolves to no public address"), "{json}");
    assert!(server.received_requests().await.unwrap().is_empty());

    let (exit, json) = run_json(&code, &["--grant", "http", "--allow-origin", &by_name, "--allow-private-addresses"]);
    assert_eq!((exit, &json["result"]), (0, &json!("inside")), "{json}");
}

#[tokio::test]
async fn connectors_come_from_the_config_file_with_credentials_from_the_environment() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/v1/items/7"))
        .and(wiremock::matchers::header("authorization", "Bearer from-the-environment"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({"id": 7, "name": "lamp"})))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let api = json!({
        "openapi": "3.0.3",
        "info": { "title": "Items", "description": "The item store." },
        "paths": { "/items/{id}": { "get": {
            "operationId": "get-item", "summary": "One item by id",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
            "responses": { "200": { "description": "ok", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/item" } } } } }
        } } },
        "components": { "schemas": { "item": { "type": "object", "required": ["id"],
            "properties": { "id": { "type": "integer" }, "name": { "type": "string" } } } } }
    });
    std::fs::write(dir.path().join("items.json"), api.to_string()).unwrap();
    let config = dir.path().join("isobox.toml");
    std::fs::write(
        &config,
        format!(
            "[connectors.items]\nopenapi = \"items.json\"\nbase-url = \"{}/v1\"\nheaders = {{ Authorization = \"Bearer ${{ISOBOX_TEST_TOKEN}}\" }}\n",
            server.uri()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let isobox_with_token = |args: &[&str], token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_isobox"));
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        match token {
            Some(token) => command.env("ISOBOX_TEST_TOKEN", token),
            None => command.env_remove("ISOBOX_TEST_TOKEN"),
        };
        let mut child = command.spawn().expect("isobox starts");
        child.stdin.take().unwrap().write_all(b"return await items.getItem({ id: 7 })").unwrap();
        child.wait_with_output().unwrap()
    };

    let output = isobox_with_token(
        &["run", "--json", "--config", config, "--grant", "items", "-"],
        Some("from-the-environment"),
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["result"], json!({"id": 7, "name": "lamp"}), "{json}");

    let types = isobox_with_token(&["types", "--config", config, "--grant", "items"], Some("x"));
    let types = String::from_utf8_lossy(&types.stdout);
    assert!(types.contains("  getItem(params: { id: number }): Promise<Item>;"), "{types}");
    assert!(types.contains("type Item = { id: number; name?: string };"), "{types}");
    let caps = isobox_with_token(&["caps", "--config", config], Some("x"));
    assert!(String::from_utf8_lossy(&caps.stdout).contains("global `items`: getItem"));
    let search = isobox_with_token(&["search", "--config", config, "--grant", "items", "one", "item"], Some("x"));
    assert!(String::from_utf8_lossy(&search.stdout).contains("getItem("));

    // A missing variable names the connector and the variable; the program never runs.
    let output = isobox_with_token(&["run", "--config", config, "--grant", "items", "-"], None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0));
    assert!(stderr.contains("connector `items`") && stderr.contains("ISOBOX_TEST_TOKEN"), "{stderr}");
    // Without the connector granted, the rest works.
    let output = isobox(&["run", "--json", "--config", config, "-"], "return 1");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    // A broken file is named.
    std::fs::write(dir.path().join("broken.toml"), "[connectors.items]\nopenapi = \"items.json\"\nbase_url = 1\n")
        .unwrap();
    let broken = dir.path().join("broken.toml");
    let output = isobox(&["run", "--config", broken.to_str().unwrap(), "--grant", "items", "-"], "return 1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.toml") && stderr.contains("unknown field"), "{stderr}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[test]
fn a_connector_type_named_like_another_capability_s_is_renamed() {
    let dir = tempfile::tempdir().unwrap();
    // A Petstore-style document whose `Order` is not the shop's.
    let api = json!({
        "openapi": "3.0.3", "info": { "title": "Pets" }, "servers": [{ "url": "https://pets.example" }],
        "paths": { "/orders/{id}": { "get": {
            "operationId": "getOrder",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
            "responses": { "200": { "description": "ok", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Order" } } } } }
        } } },
        "components": { "schemas": { "Order": { "type": "object", "properties": { "petId": { "type": "integer" } } } } }
    });
    std::fs::write(dir.path().join("pets.json"), api.to_string()).unwrap();
    let config = dir.path().join("isobox.toml");
    std::fs::write(&config, "[connectors.pets]\nopenapi = \"pets.json\"\n").unwrap();
    let output = isobox(&["types", "--config", config.to_str().unwrap(), "--grant", "shop,pets"], "");
    let types = String::from_utf8_lossy(&output.stdout);
    assert!(types.contains("type Order = { id: number;"), "{types}");
    assert!(types.contains("getOrder(params: { id: number }): Promise<PetsOrder>;"), "{types}");
    assert!(types.contains("type PetsOrder = { petId?: number };"), "{types}");
    // The program runs with both granted: the registry renames too, rather than refusing.
    let (exit, json) =
        run_json("return typeof pets.getOrder", &["--config", config.to_str().unwrap(), "--grant", "shop,pets"]);
    assert_eq!((exit, &json["result"]), (0, &json!("function")), "{json}");
}

#[test]
fn a_reader_that_goes_away_ends_isobox_quietly() {
    // `isobox run --json prog.js | head -c 1`: the reader closes before the output is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_isobox"))
        .args(["run", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.stdin.take().unwrap().write_all(b"return 'x'.repeat(100000)").unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(141), "{stderr}");
}

#[test]
fn an_unknown_grant_names_every_capability_that_could_be_granted() {
    for command in [&["run", "--grant", "nope", "-"][..], &["mcp", "--grant", "nope"]] {
        let output = isobox(command, "return 1");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(stderr.contains("unknown capability `nope` (known: files, http, kv, shop)"), "{command:?}: {stderr}");
    }
}

#[test]
fn an_mcp_connector_works_on_both_backends_and_only_when_granted() {
    let dir = tempfile::tempdir().unwrap();
    let server = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/mcp/node_modules/@modelcontextprotocol/server-memory/dist/index.js");
    let config = dir.path().join("isobox.toml");
    std::fs::write(
        &config,
        format!(
            "[connectors.memory]\nmcp = {{ command = \"node\", args = [{server:?}], env = {{ MEMORY_FILE_PATH = {:?} }} }}\n",
            dir.path().join("memory.jsonl")
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let program =
        "await memory.createEntities({ entities: [{ name: 'Ada', entityType: 'person', observations: [] }] });
        return (await memory.openNodes({ names: ['Ada'] })).entities.map((e) => e.entityType);";
    let (exit, json) = run_json(program, &["--backend", "both", "--config", config, "--grant", "memory"]);
    assert_eq!(exit, 0, "{json}");
    for backend in ["wasm", "v8"] {
        assert_eq!(json[backend]["result"], json!(["person"]), "{backend}: {json}");
    }
    let (exit, json) = run_json("return typeof memory", &["--backend", "both", "--config", config]);
    assert_eq!((exit, &json["wasm"]["result"], &json["v8"]["result"]), (0, &json!("undefined"), &json!("undefined")));
}

/// `isobox` with `args`, the data dir `data` and `stdin`: the exit code, the JSON on standard output (`null` if none)
/// and standard error.
fn isobox_in(data: &std::path::Path, args: &[&str], stdin: &str) -> (i32, Value, String) {
    let output = isobox_with(args, stdin, Some(data));
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap(), json, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_run_stopped_for_approval_is_continued_by_another_process_with_each_write_made_once() {
    let program = r#"
        const before = await kv.get("note");
        await kv.set("note", `written at ${Date.now()} with ${Math.random()}`);
        const writes = await kv.increment("writes", 1);
        return { before, after: await kv.get("note"), writes };
    "#;
    for backend in ["wasm", "v8"] {
        let data = tempfile::tempdir().unwrap();
        let data = data.path();
        let gated =
            ["run", "--json", "--backend", backend, "--grant", "kv", "--require-approval", "kv.set,kv.increment"];
        let (code, json, _) = isobox_in(data, &[&gated[..], &["-"]].concat(), program);
        assert_eq!((code, &json["error"]["kind"]), (1, &json!("approval_required")), "{backend}: {json}");
        assert_eq!((&json["error"]["capability"], &json["error"]["method"]), (&json!("kv"), &json!("set")));
        let run_id = json["error"]["run_id"].as_str().unwrap().to_string();
        let read = |data| isobox_in(data, &["run", "--json", "--grant", "kv", "-"], "return await kv.get('note')").1;
        assert_eq!(read(data)["result"], Value::Null, "{backend}: nothing written before approval");

        // A new process continues it: it stops again at the next call needing approval.
        let (code, json, _) = isobox_in(data, &["run", "--json", "--approve", &run_id], "");
        assert_eq!((code, &json["error"]["method"]), (1, &json!("increment")), "{backend}: {json}");
        assert_eq!(json["metrics"]["backend"], backend);
        let replayed: Vec<&Value> = json["calls"].as_array().unwrap().iter().map(|call| &call["replayed"]).collect();
        assert_eq!(replayed, [&json!(true), &Value::Null, &Value::Null], "{backend}: {json}");
        let note = read(data)["result"].as_str().unwrap().to_string();
        let second = json["error"]["run_id"].as_str().unwrap().to_string();

        let (code, json, _) = isobox_in(data, &["run", "--json", "--approve", &second], "");
        assert_eq!(code, 0, "{backend}: {json}");
        assert_eq!(json["result"], json!({"before": null, "after": note, "writes": 1}), "{backend}");
        // Each run id is used once; a denial of a used one finds nothing either.
        for decision in ["--approve", "--deny"] {
            let (code, _, stderr) = isobox_in(data, &["run", decision, &second], "");
            assert_eq!(code, 1, "{backend}");
            assert!(stderr.contains("no run waits for approval"), "{backend}: {stderr}");
        }
        let (_, json, _) = isobox_in(data, &["run", "--json", "--grant", "kv", "-"], "return await kv.get('writes')");
        assert_eq!(json["result"], "1", "{backend}: the increment was made once");
    }
}

#[test]
fn a_denied_call_throws_in_the_program_and_approval_flags_are_checked() {
    let data = tempfile::tempdir().unwrap();
    let data = data.path();
    let program = "try { await kv.set('a', '1'); return 'set'; } catch (e) { return e.message; }";
    let (_, json, _) =
        isobox_in(data, &["run", "--json", "--grant", "kv", "--require-approval", "kv.set", "-"], program);
    let run_id = json["error"]["run_id"].as_str().unwrap().to_string();
    let (code, json, _) = isobox_in(data, &["run", "--json", "--deny", &run_id, "--reason", "no"], "");
    assert_eq!((code, &json["result"]), (0, &json!("kv.set was denied: no")), "{json}");

    for (flag, expected) in [("kv.nope", "`kv` has no function `nope`"), ("nope.set", "CAPABILITY.METHOD")] {
        let (code, _, stderr) = isobox_in(data, &["run", "--grant", "kv", "--require-approval", flag, "-"], "1");
        assert_eq!(code, 2, "{flag}");
        assert!(stderr.contains(expected), "{flag}: {stderr}");
    }
    let (code, _, stderr) = isobox_in(data, &["run", "--approve", "0123"], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("no run waits for approval"), "{stderr}");
}
