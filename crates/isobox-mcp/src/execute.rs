//! The `execute` tool: one program, in a fresh sandbox, with the server's grants and limits and the session's tenant;
//! or the continuation of a program that stopped for approval.

use isobox_core::approval::{Approvals, Decision};
use isobox_core::fit::FittedOutcome;
use isobox_core::{Backend, Limits, Outcome, Request, RunOptions};
use rmcp::model::{CallToolResult, ContentBlock, MetaObject};
use serde_json::Value;

/// The `_meta` key of an `execute` answer that holds the program's call log.
pub const CALLS_META: &str = "isobox/calls";

/// What one `execute` call runs with.
pub struct Execution<'a> {
    /// Takes TypeScript as well as JavaScript (an `isobox_typescript::TypeScript`).
    pub backend: &'a dyn Backend,
    /// The backend without TypeScript, which continues a stopped run (kept as the JavaScript it ran).
    pub plain: &'a dyn Backend,
    pub grants: &'a [String],
    pub limits: &'a Limits,
    pub tenant: &'a str,
    /// The budget the result and logs are fitted to, in tokens.
    pub result_tokens: usize,
    /// Where runs that stop for approval are kept, when a granted function needs approval.
    pub approvals: Option<&'a Approvals>,
}

impl Execution<'_> {
    /// Runs `code` (JavaScript or TypeScript, possibly in a markdown code fence) with `input`. Always a result: a
    /// failing program is `isError: true` with the error in the JSON, the same contract as `isobox run --json`
    /// without `calls`; its result and logs fitted to the budget (`truncated: true` when cut). Text only: the same
    /// JSON again as structured content would double what a client hands its model. The call log is in the answer's
    /// `_meta` (under [`CALLS_META`]), for a client to show: a model need not read it.
    pub async fn run(&self, code: String, input: Option<Value>) -> CallToolResult {
        let request = Request {
            code,
            input,
            options: RunOptions {
                limits: self.limits.clone(),
                grants: self.grants.to_vec(),
                tenant: Some(self.tenant.to_string()),
            },
            replay: None,
        };
        let outcome = match self.approvals {
            Some(approvals) => approvals.run(self.backend, request).await,
            None => self.backend.run(&request).await,
        };
        self.answer(&outcome)
    }

    /// Continues the stopped run `run_id` of this session's tenant with `decision`.
    pub async fn decide(&self, run_id: &str, decision: Decision) -> CallToolResult {
        let Some(approvals) = self.approvals else {
            return CallToolResult::error(vec![ContentBlock::text(
                "no granted function needs approval: there is no run to continue",
            )]);
        };
        match approvals.decide(self.plain, Some(self.tenant), run_id, decision).await {
            Ok(outcome) => self.answer(&outcome),
            Err(error) => CallToolResult::error(vec![ContentBlock::text(
                serde_json::json!({"ok": false, "error": {"kind": error.kind(), "message": error.to_string()}})
                    .to_string(),
            )]),
        }
    }

    fn answer(&self, outcome: &Outcome) -> CallToolResult {
        let (report, calls) = execute_report(outcome, self.result_tokens);
        let content = vec![ContentBlock::text(report)];
        let mut answer =
            if outcome.is_ok() { CallToolResult::success(content) } else { CallToolResult::error(content) };
        let mut meta = MetaObject::new();
        meta.0.insert(CALLS_META.into(), calls);
        answer.meta = Some(meta);
        answer
    }
}

/// An `execute` answer's parts: the text a model reads (the outcome as `isobox run --json` reports it, fitted to
/// `result_tokens`, without `calls`) and the call log, which the answer carries in `_meta` under [`CALLS_META`].
pub fn execute_report(outcome: &Outcome, result_tokens: usize) -> (String, Value) {
    let mut report = serde_json::to_value(FittedOutcome::new(outcome, result_tokens)).expect("outcomes serialise");
    let calls = report.as_object_mut().and_then(|report| report.remove("calls")).unwrap_or_default();
    (report.to_string(), calls)
}
