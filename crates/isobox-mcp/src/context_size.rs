//! What an API costs in a model's context: served the Code Mode way (isobox's two tools, and the `search` answer the
//! model reads once) against the classic way (one tool per function, each with a JSON Schema of its arguments).

use std::fmt;

use isobox_capabilities::Interface;
use isobox_core::Limits;

use crate::classic::{classic_tools, classic_tools_with_results};
use crate::search::{DEFAULT_SEARCH_BUDGET, search};
use crate::tools::tools;

/// Sizes in bytes of the compact JSON or text a client passes to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextSize {
    /// isobox's `tools/list`: `search` and `execute`, whatever the API.
    pub code_mode_tools: usize,
    /// The `search` answer without a query, within the default budget: the whole API as TypeScript when it fits,
    /// else an overview.
    pub code_mode_search: usize,
    /// The whole API as TypeScript, result types included (`isobox types`).
    pub typescript: usize,
    /// A classic `tools/list`: one tool per function, arguments only (no result types).
    pub classic_tools: usize,
    /// The classic `tools/list` with result types too (`outputSchema`), as much as the TypeScript says.
    pub classic_tools_with_results: usize,
}

impl ContextSize {
    /// The sizes for an MCP server granting `interfaces` and running programs under `limits` (which appear in
    /// `execute`'s description).
    pub fn of(interfaces: &[Interface], limits: &Limits) -> Self {
        Self {
            code_mode_tools: serde_json::to_vec(&tools(interfaces, limits)).map_or(0, |json| json.len()),
            code_mode_search: search(interfaces, None, DEFAULT_SEARCH_BUDGET as usize).len(),
            typescript: isobox_capabilities::declarations(interfaces).len(),
            classic_tools: serde_json::to_vec(&classic_tools(interfaces)).map_or(0, |json| json.len()),
            classic_tools_with_results: serde_json::to_vec(&classic_tools_with_results(interfaces))
                .map_or(0, |json| json.len()),
        }
    }

    /// What the model reads before its first program runs: the tool list plus one `search`.
    pub fn code_mode(&self) -> usize {
        self.code_mode_tools + self.code_mode_search
    }
}

/// An approximate token count: about four bytes per token for English, code and JSON.
pub fn tokens(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

impl fmt::Display for ContextSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: [(&str, usize); 6] = [
            ("Code Mode: tools/list (search, execute)", self.code_mode_tools),
            ("Code Mode: search answer without a query", self.code_mode_search),
            ("Code Mode: total", self.code_mode()),
            ("the whole API as TypeScript", self.typescript),
            ("classic MCP: tools/list, arguments only", self.classic_tools),
            ("classic MCP: tools/list, with result types", self.classic_tools_with_results),
        ];
        writeln!(f, "{:48} {:>7} {:>8}", "", "bytes", "~tokens")?;
        for (label, bytes) in rows {
            writeln!(f, "{label:48} {bytes:>7} {:>8}", tokens(bytes))?;
        }
        Ok(())
    }
}
