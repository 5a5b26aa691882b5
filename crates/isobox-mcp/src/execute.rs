//! The `execute` tool: one program, in a fresh sandbox, with the server's grants and limits and the session's tenant.

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
}

impl Execution<'_> {
    /// Runs `code` (JavaScript or TypeScript, possibly in a markdown code fence) with `input`. Always a result: a
    /// failing program is `isError: true` with the error in the JSON, the same contract as `isobox run --json`.
    pub async fn run(&self, code: String, input: Option<Value>) -> CallToolResult {
        let request = Request {
            code,
            input,
            limits: self.limits.clone(),
            grants: self.grants.to_vec(),
            tenant: Some(self.tenant.to_string()),
        };
        let outcome = self.backend.run(&request).await;
        let text = serde_json::to_string(&outcome).expect("outcomes serialise");
        if outcome.is_ok() {
            CallToolResult::success(vec![ContentBlock::text(text)])
        } else {
            CallToolResult::error(vec![ContentBlock::text(text)])
        }
    }
}
