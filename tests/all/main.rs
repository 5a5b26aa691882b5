//! isobox's integration tests, as an embedder uses the crates: one binary (linking wasmtime, V8 and the rest once),
//! one module per subject. The conformance cases run every request on every backend with the same expectations
//! (see `common`). The soak run is a binary of its own (`tests/soak.rs`), since it counts the process's threads and
//! file descriptors.

#[path = "../common/mod.rs"]
mod common;

mod approvals;
mod capabilities;
mod code_mode_saving;
mod concurrency;
mod connectors;
mod errors;
mod files;
mod hostile_programs;
mod http;
mod isolation;
mod kv;
mod kv_stores;
mod mcp_connector;
mod mcp_context_size;
mod mcp_github_search;
mod mcp_session_tenant;
mod plugins;
mod readme;
mod semantics;
mod typescript;
mod typescript_input;
