//! Code Mode's saving, measured end to end without a model: for a few multi-step tasks over the demo `shop` API and
//! over GitHub's API (its OpenAPI document, against a local server answering with the document's own examples), the
//! bytes a model reads and writes
//!
//! - with classic tool calls: the tool list, every call's arguments and every intermediate result, each passing
//!   through the model once;
//! - in Code Mode: isobox's two tools, one `search` answer, the program, and what `execute` answers.
//!
//! Every call really runs (classic calls through the same checked dispatch a classic MCP server would use, programs in
//! a fresh sandbox), so the sizes are those of real answers. Run with `--nocapture` to see the table; each task must
//! cost less in Code Mode than its classic calls alone.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use isobox::capabilities::Interface;
use isobox::capabilities::backend::CallOutcome;
use isobox::connectors::{ConnectorConfig, OpenApi};
use isobox::http::HttpClient;
use isobox::shop;
use isobox::{Backend, Capabilities, Limits, Request, TypeScript};
use isobox_mcp::{DEFAULT_SEARCH_BUDGET, classic_tools, search, tokens};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One task, scripted both ways.
struct Task {
    name: &'static str,
    grant: &'static str,
    /// The classic calls in order: (function's method, arguments object or array).
    classic: Vec<(&'static str, Value)>,
    /// What the model searches for before writing its program.
    query: &'static str,
    program: &'static str,
}

struct Sizes {
    tool_list: usize,
    calls: usize,
    code_mode: usize,
}

fn github_document() -> (PathBuf, Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openapi/api.github.com.json");
    let document = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (path, document)
}

/// A local server answering as GitHub's API would, with the examples of GitHub's own document: five open pull
/// requests (the checks of #2 and #4 failed) and eight open issues.
async fn github_server(document: &Value) -> MockServer {
    let example = |name: &str| document["components"]["examples"][name]["value"].clone();
    let pull = example("pull-request-simple-items")[0].clone();
    let pulls: Vec<Value> = (1..=5)
        .map(|n| {
            let mut pull = pull.clone();
            pull["number"] = json!(n);
            pull["title"] = json!(format!("Change number {n}"));
            pull["head"]["sha"] = json!(format!("sha{n}"));
            pull["user"]["login"] = json!(format!("author{n}"));
            pull
        })
        .collect();
    let issue = example("issue-items")[0].clone();
    let issues: Vec<Value> = (1..=8)
        .map(|n| {
            let mut issue = issue.clone();
            issue["number"] = json!(100 + n);
            issue["title"] = json!(format!("Bug number {n}"));
            issue
        })
        .collect();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/hello/pulls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pulls))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/hello/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issues))
        .mount(&server)
        .await;
    for n in 1..=5 {
        let mut runs = example("check-run-paginated");
        runs["check_runs"][0]["conclusion"] = json!(if n % 2 == 0 { "failure" } else { "success" });
        Mock::given(method("GET"))
            .and(path_regex(format!("^/repos/octo/hello/commits/sha{n}/check-runs$")))
            .respond_with(ResponseTemplate::new(200).set_body_json(runs))
            .mount(&server)
            .await;
    }
    server
}

fn tasks() -> Vec<Task> {
    let repo = || json!({ "owner": "octo", "repo": "hello" });
    let with = |extra: Value| {
        let mut args = repo();
        args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        args
    };
    vec![
        Task {
            name: "shop: the three best customers of 2026 and their favourite product",
            grant: "shop",
            classic: vec![
                ("listOrders", json!([{ "since": "2026-01-01", "until": "2026-12-31" }])),
                ("listCustomers", json!([])),
                ("listProducts", json!([])),
            ],
            query: "orders customers products",
            program: r#"const orders = await shop.listOrders({ since: "2026-01-01", until: "2026-12-31" });
const [customers, products] = await Promise.all([shop.listCustomers(), shop.listProducts()]);
const spent = new Map();
for (const o of orders) if (o.status !== "cancelled" && o.status !== "refunded") spent.set(o.customerId, (spent.get(o.customerId) ?? 0) + o.total);
return [...spent].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([id, total]) => {
  const bought = new Map();
  for (const o of orders) if (o.customerId === id) for (const l of o.lines) bought.set(l.sku, (bought.get(l.sku) ?? 0) + l.quantity);
  const sku = [...bought].sort((a, b) => b[1] - a[1])[0][0];
  return { customer: customers.find((c) => c.id === id).name, spent: Math.round(total * 100) / 100, favourite: products.find((p) => p.sku === sku).name };
});"#,
        },
        Task {
            name: "shop: how many orders are paid, and their total",
            grant: "shop",
            classic: vec![("listOrders", json!([{ "status": "paid" }]))],
            query: "list orders status",
            program: r#"const paid = await shop.listOrders({ status: "paid" });
return { orders: paid.length, total: Math.round(paid.reduce((sum, o) => sum + o.total, 0) * 100) / 100 };"#,
        },
        Task {
            name: "GitHub: open pull requests whose checks failed, with their authors",
            grant: "github",
            classic: std::iter::once(("pullsList", json!([with(json!({ "state": "open" }))])))
                .chain((1..=5).map(|n| ("checksListForRef", json!([with(json!({ "ref": format!("sha{n}") }))]))))
                .collect(),
            query: "list open pull requests check runs for a commit",
            program: r#"const prs = await github.pullsList({ owner: "octo", repo: "hello", state: "open" });
const failed = [];
for (const pr of prs) {
  const { check_runs } = await github.checksListForRef({ owner: "octo", repo: "hello", ref: pr.head.sha });
  if (check_runs.some((run) => run.conclusion === "failure")) failed.push({ number: pr.number, title: pr.title, author: pr.user?.login });
}
return failed;"#,
        },
        Task {
            name: "GitHub: titles of the open issues labelled bug",
            grant: "github",
            classic: vec![("issuesListForRepo", json!([with(json!({ "state": "open", "labels": "bug" }))]))],
            query: "list issues of a repository",
            program: r#"const issues = await github.issuesListForRepo({ owner: "octo", repo: "hello", state: "open", labels: "bug" });
return issues.map((issue) => ({ number: issue.number, title: issue.title }));"#,
        },
    ]
}

/// The bytes of a task's classic calls: each call as the model writes it, each result as it reads it.
async fn classic_calls(capabilities: &Capabilities, interface: &Interface, task: &Task) -> usize {
    let request = Request::new("").with_grants([task.grant]);
    let mut calls = capabilities.host_calls(&request).unwrap();
    let mut bytes = 0;
    for (method, args) in &task.classic {
        let index = interface.functions.iter().position(|function| function.method == *method).unwrap();
        let function = &interface.functions[index];
        let arguments: serde_json::Map<String, Value> =
            function.params.iter().zip(args.as_array().unwrap()).map(|(p, v)| (p.name.clone(), v.clone())).collect();
        let name = format!("{}_{}", interface.name, function.name).replace('-', "_");
        bytes += json!({ "name": name, "arguments": arguments }).to_string().len();
        let pending = calls.begin(0, index as u32, args.to_string().as_bytes()).unwrap_or_else(|_| panic!("{method}"));
        match pending.finish().await {
            CallOutcome::Return(text) => bytes += text.len(),
            other => panic!("{method}: {other:?}"),
        }
    }
    bytes
}

#[tokio::test]
async fn code_mode_costs_less_context_than_classic_tool_calls() {
    let (document_path, document) = github_document();
    let server = github_server(&document).await;
    let config =
        ConnectorConfig { openapi: Some(document_path), base_url: Some(server.uri()), ..ConnectorConfig::default() };
    let github = OpenApi::load("github", &config).unwrap();
    let mut capabilities = Capabilities::new();
    capabilities.register(shop::capability()).unwrap();
    capabilities.register(github.capability(HttpClient::new(&github.http_config(&config)).unwrap())).unwrap();
    let backend = TypeScript::new(common::backends(&capabilities).remove(0).1);
    let limits = Limits::default();

    let mut rows = Vec::new();
    let mut answers = BTreeMap::new();
    for task in tasks() {
        let interface = capabilities.get(task.grant).unwrap().clone();
        let interfaces = [interface.clone()];
        let tool_list = serde_json::to_string(&classic_tools(&interfaces)).unwrap().len();
        let calls = classic_calls(&capabilities, &interface, &task).await;

        let tools = serde_json::to_string(&isobox_mcp::tools(&interfaces, &limits)).unwrap().len();
        let search_call = json!({ "name": "search", "arguments": { "query": task.query } }).to_string().len();
        let answer = search(&interfaces, Some(task.query), DEFAULT_SEARCH_BUDGET as usize);
        let execute_call = json!({ "name": "execute", "arguments": { "code": task.program } }).to_string().len();
        let outcome = backend.run(&Request::new(task.program).with_grants([task.grant])).await;
        let result = outcome.result.clone().unwrap_or_else(|error| panic!("{}: {error:?}", task.name));
        // What the model reads of `execute`'s answer (the call log goes to the client, in `_meta`).
        let execute_answer = isobox_mcp::execute_report(&outcome, isobox_mcp::DEFAULT_RESULT_TOKENS).0.len();
        let code_mode = tools + search_call + answer.len() + execute_call + execute_answer;
        answers.insert(task.name, result);
        rows.push((task.name, Sizes { tool_list, calls, code_mode }));
    }

    // The programs found what the calls were scripted to find.
    let failed = &answers["GitHub: open pull requests whose checks failed, with their authors"];
    assert_eq!(
        failed.as_array().unwrap().iter().map(|pr| pr["author"].clone()).collect::<Vec<_>>(),
        [json!("author2"), json!("author4")]
    );
    assert_eq!(answers["GitHub: titles of the open issues labelled bug"].as_array().unwrap().len(), 8);
    assert_eq!(
        answers["shop: the three best customers of 2026 and their favourite product"].as_array().unwrap().len(),
        3
    );

    println!(
        "| task | classic: tool list | classic: calls + results | classic total | Code Mode total | saving | saving vs calls alone |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let (mut classic_sum, mut calls_sum, mut code_mode_sum) = (0, 0, 0);
    for (name, sizes) in &rows {
        let classic = sizes.tool_list + sizes.calls;
        println!(
            "| {name} | {} | {} | {} | {} | {:.0} % | {:.0} % |",
            sizes.tool_list,
            sizes.calls,
            classic,
            sizes.code_mode,
            saving(classic, sizes.code_mode),
            saving(sizes.calls, sizes.code_mode),
        );
        assert!(
            sizes.code_mode < sizes.calls,
            "{name}: Code Mode {} bytes, classic calls {}",
            sizes.code_mode,
            sizes.calls
        );
        classic_sum += classic;
        calls_sum += sizes.calls;
        code_mode_sum += sizes.code_mode;
    }
    println!(
        "| **all four** | | {calls_sum} | {classic_sum} (~{} tokens) | {code_mode_sum} (~{} tokens) | {:.0} % | {:.0} % |",
        tokens(classic_sum),
        tokens(code_mode_sum),
        saving(classic_sum, code_mode_sum),
        saving(calls_sum, code_mode_sum)
    );
}

fn saving(classic: usize, code_mode: usize) -> f64 {
    100.0 * (1.0 - code_mode as f64 / classic as f64)
}
