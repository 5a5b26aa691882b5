//! The bodies of isobox's fuzz targets. Each `pub fn NAME(data: &[u8])` is one target: `fuzz/fuzz_targets/NAME.rs`
//! hands it libFuzzer's bytes, and `tests/replay.rs` runs every file of `fuzz/corpus/NAME/` and
//! `fuzz/regressions/NAME/` through it on the stable toolchain. A target panics exactly when it finds a bug: a panic
//! in isobox itself, or a property of its output that does not hold.

mod json;

pub mod dispatch;
pub mod json_schema;
#[cfg(feature = "wasm")]
pub mod plugin_load;
pub mod prelude_outcome;
pub mod typescript;
pub mod wit_typescript;

/// A target's body: it panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by name: what the replay test runs.
pub const TARGETS: &[(&str, Target)] = &[
    ("dispatch", dispatch::dispatch),
    ("json_schema", json_schema::json_schema),
    ("prelude_outcome", prelude_outcome::prelude_outcome),
    ("typescript", typescript::typescript),
    ("wit_typescript", wit_typescript::wit_typescript),
    #[cfg(feature = "wasm")]
    ("plugin_load", plugin_load::plugin_load),
];
