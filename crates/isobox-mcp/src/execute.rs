//! The `execute` tool: one program, in a fresh sandbox, with the server's grants and limits and the session's tenant.

use isobox_core::fit::FittedOutcome;
use isobox_core::{Backend, Limits, Request};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

/// What one `execute` call runs with.
pub struct Execution<'a> {
    /// Takes TypeScript as well as JavaScript (an `isobox_typescript::TypeScript`).
    pub backend: &'a dyn Backend,
    pub grants: &'a [String],
    pub limits: &'a Limits,
    pub tenant: &'a str,
    /// The budget the result and logs are fitted to, in tokens.
    pub result_tokens: usize,
}

impl Execution<'_> {
    /// Runs `code` (JavaScript or TypeScript, possibly in a markdown code fence) with `input`. Always a result: a
    /// failing program is `isError: true` with the error in the JSON, the same contract as `isobox run --json`; its
    /// result and logs fitted to the budget (`truncated: true` when cut). Text only: the same JSON again as structured
    /// content would double what a client hands its model.
    pub async fn run(&self, code: String, input: Option<Value>) -> CallToolResult {
        let request = Request {
            code,
            input,
            limits: self.limits.clone(),
            grants: self.grants.to_vec(),
            tenant: Some(self.tenant.to_string()),
        };
        let outcome = self.backend.run(&request).await;
        let report =
            serde_json::to_string(&FittedOutcome::new(&outcome, self.result_tokens)).expect("outcomes serialise");
        let content = vec![ContentBlock::text(report)];
        if outcome.is_ok() { CallToolResult::success(content) } else { CallToolResult::error(content) }
    }
}
