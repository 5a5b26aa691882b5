//! The two tools isobox offers a model, `search` and `execute`, as `tools/list` shows them. Their descriptions are
//! part of every prompt: a few lines that say how to write a program and which globals it may use.

use std::sync::Arc;

use isobox_capabilities::Interface;
use isobox_core::{Limits, fit};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

pub const SEARCH: &str = "search";
pub const EXECUTE: &str = "execute";

/// The budget `execute` fits a program's result and logs to, in tokens, unless the server or the call names another.
pub const DEFAULT_RESULT_TOKENS: usize = 6_000;

/// `search` and `execute` for a server granting `interfaces` under `limits`, with the default budget for `execute`'s
/// output ([`DEFAULT_RESULT_TOKENS`]).
pub fn tools(interfaces: &[Interface], limits: &Limits) -> Vec<Tool> {
    tools_fitting(interfaces, limits, DEFAULT_RESULT_TOKENS, false)
}

/// [`tools`], with `execute`'s output fitted to `result_tokens` by default, and taking `approve`/`deny` when some
/// granted function needs approval (`approvals`).
pub(crate) fn tools_fitting(
    interfaces: &[Interface],
    limits: &Limits,
    result_tokens: usize,
    approvals: bool,
) -> Vec<Tool> {
    let globals = interfaces.iter().map(|interface| format!("`{}`", interface.global)).collect::<Vec<_>>();
    let globals = if globals.is_empty() { "none".to_string() } else { globals.join(", ") };
    let search = Tool::new(
        SEARCH,
        format!(
            "TypeScript declarations of the API `execute` programs can call (globals: {globals}). `query`: words for \
             a task; the answer is the best-matching functions and their types, within `budget` bytes (default {}). \
             Without `query`: the whole API if it fits, else an overview. Or search with `code`, a program filtering \
             `input`, the functions as {{capability, method, summary, params}}.",
            crate::search::DEFAULT_SEARCH_BUDGET
        ),
        schema(json!({
            "type": "object",
            "properties": {
                "query": { "type": "string", "description": "What the program must do, such as `list open orders`." },
                "budget": { "type": "integer", "minimum": 200, "maximum": 100000, "description": "The answer's size limit in bytes." },
                "code": { "type": "string", "description": "Instead of `query`: a program whose `input` is the API as an array of {capability, method, summary, params}; its result is the answer." }
            }
        })),
    )
    .with_annotations(ToolAnnotations::new().read_only(true));

    let stateful: Vec<String> = interfaces
        .iter()
        .filter(|interface| interface.name == "kv" || interface.name == "files")
        .map(|interface| format!("`{}`", interface.global))
        .collect();
    let mut properties = json!({
        "code": { "type": "string", "description": "The program." },
        "input": { "description": "Any JSON value, given to the program as `input`." },
        "result_tokens": { "type": "integer", "minimum": 1, "maximum": fit::MAX_TOKENS }
    });
    let mut required = json!(["code"]);
    if approvals {
        properties["approve"] = json!({ "type": "string", "description": "Instead of `code`: the `run_id` of a program that stopped for approval, to continue it making the call (only once a person approved it)." });
        properties["deny"] = json!({ "type": "string", "description": "Instead of `code`: the `run_id` of a program that stopped for approval, to continue it with the call throwing an Error." });
        properties["reason"] = json!({ "type": "string", "description": "With `deny`: why, for the Error's message." });
        required = json!([]);
    }
    let execute = Tool::new(
        EXECUTE,
        format!(
            "Run JavaScript or TypeScript in a fresh sandbox. `code` is the body of an async function: `await` works, \
             `return` the answer (JSON), `console.log` notes. Globals: {globals} (see `search`); no fetch, require or \
             fs. Limits: {} ms, {} MiB.{}{} Returns {{ok, result, error, logs, metrics}}; a result and logs past \
             `result_tokens` ({result_tokens} by default) are cut, with `truncated: true`.",
            limits.timeout.as_millis(),
            limits.memory_bytes >> 20,
            if stateful.is_empty() {
                String::new()
            } else {
                format!(
                    " {} keep{} data from one call to the next.",
                    stateful.join(" and "),
                    if stateful.len() == 1 { "s" } else { "" }
                )
            },
            if approvals {
                " A call that needs approval stops the program before it (error kind `approval_required`, with a \
                 `run_id`): once a person has decided, call again with `approve` or `deny` set to the `run_id`; the \
                 program runs again from the start, its earlier calls answered as before, and goes on."
            } else {
                ""
            },
        ),
        schema(json!({ "type": "object", "properties": properties, "required": required })),
    );
    vec![search, execute]
}

fn schema(value: Value) -> Arc<JsonObject> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}
