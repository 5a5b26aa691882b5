//! The plugin host: a compiled plugin loaded once, its functions called with the same limits, capabilities and errors
//! as `run`; and every bad module refused with a typed error.

mod common;

use std::sync::LazyLock;
use std::time::Duration;

use common::forged;
use isobox_capabilities::Capabilities;
use isobox_core::{Budget, Limits, Outcome, RunOptions, SandboxError};
use isobox_kv::KvStore;
use isobox_wasm::WasmConfig;
use isobox_wasm::plugin::{Linking, Plugin, PluginError, PluginHost, PluginManifest};
use serde_json::{Value, json};

static HOST: LazyLock<(PluginHost, tempfile::TempDir)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let mut capabilities = Capabilities::new();
    capabilities.register(KvStore::open(&dir.path().join("kv.redb")).unwrap().capability()).unwrap();
    let host = PluginHost::new(WasmConfig { capabilities, ..WasmConfig::default() }).expect("the plugin host starts");
    (host, dir)
});

fn host() -> &'static PluginHost {
    &HOST.0
}

/// The plugin both plugin test suites use (`tests/plugins/text.js`).
const TEXT: &str = include_str!("../../../tests/plugins/text.js");

const TEXT_EXPORTS: [&str; 9] = ["upper", "words", "count", "fail", "spin", "hoard", "chatty", "recurse", "remember"];

/// The text plugin, compiled once per test process.
fn text_module() -> &'static [u8] {
    static MODULE: LazyLock<Vec<u8>> = LazyLock::new(|| common::plugin(TEXT, &TEXT_EXPORTS));
    &MODULE
}

fn text_plugin() -> Plugin {
    host().load(text_module()).expect("the text plugin loads")
}

async fn call(plugin: &Plugin, function: &str, input: Value) -> Outcome {
    plugin.call(function, Some(&input), &RunOptions::default()).await
}

fn error(outcome: Outcome) -> SandboxError {
    match outcome.result {
        Ok(value) => panic!("the call succeeded with {value}"),
        Err(error) => error,
    }
}

#[tokio::test]
async fn a_loaded_plugin_knows_its_guest_and_exports() {
    let plugin = text_plugin();
    assert_eq!(plugin.manifest().guest, isobox_wasm::guest_id());
    assert_eq!(plugin.manifest().linking, Linking::Dynamic);
    assert_eq!(plugin.exports(), TEXT_EXPORTS);
}

#[tokio::test]
async fn calls_exported_functions_with_json_input_and_output() {
    let plugin = text_plugin();
    assert_eq!(call(&plugin, "upper", json!("quiet")).await.result.unwrap(), json!("QUIET"));
    let outcome = call(&plugin, "words", json!("  a plugin  call ")).await;
    assert_eq!(outcome.result.unwrap(), json!(["a", "plugin", "call"]));
    assert_eq!(outcome.logs.len(), 1);
    assert_eq!(outcome.logs[0].message, "splitting 17 characters");
    assert!(outcome.metrics.output_bytes > 0 && outcome.metrics.memory_bytes > 0);
}

#[tokio::test]
async fn each_call_gets_a_fresh_sandbox() {
    let plugin = text_plugin();
    for _ in 0..3 {
        call(&plugin, "upper", json!("x")).await.result.unwrap();
        assert_eq!(call(&plugin, "count", json!("a b")).await.result.unwrap(), json!({"calls": 0, "words": 2}));
    }
}

#[tokio::test]
async fn a_session_keeps_one_sandbox_for_a_sequence_of_calls() {
    let plugin = text_plugin();
    let mut session = plugin.session(&RunOptions::default()).await.unwrap();
    for expected in 1..=3 {
        assert_eq!(session.call("upper", Some(&json!("y"))).await.result.unwrap(), json!("Y"));
        assert_eq!(
            session.call("count", Some(&json!("y"))).await.result.unwrap(),
            json!({"calls": expected, "words": 1})
        );
    }
    // A thrown error leaves the sandbox usable.
    assert_eq!(error(session.call("fail", Some(&json!("luck"))).await).kind(), "exception");
    assert_eq!(session.call("upper", Some(&json!("z"))).await.result.unwrap(), json!("Z"));
}

#[tokio::test]
async fn a_session_call_stopped_by_a_limit_ends_the_session() {
    let plugin = text_plugin();
    let limits = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let mut session = plugin.session(&RunOptions::default().with_limits(limits)).await.unwrap();
    assert_eq!(session.call("upper", Some(&json!("a"))).await.result.unwrap(), json!("A"));
    // Each call has its own deadline: calls before the stop may together take longer than one.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(session.call("upper", Some(&json!("b"))).await.result.unwrap(), json!("B"));
    let stopped = error(session.call("spin", None).await);
    assert!(matches!(stopped, SandboxError::Timeout { budget: Budget::WallClock, .. }), "{stopped:?}");
    assert_eq!(error(session.call("upper", Some(&json!("c"))).await), stopped);
}

#[tokio::test]
async fn a_throwing_plugin_reports_its_exception() {
    let plugin = text_plugin();
    match error(call(&plugin, "fail", json!("luck")).await) {
        SandboxError::Exception { name, message, stack } => {
            assert_eq!((name.as_str(), message.as_str()), ("RangeError", "no luck"));
            let stack = stack.expect("a stack");
            assert!(stack.contains("fail (plugin.js:"), "{stack}");
        }
        other => panic!("expected an exception, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_function_is_a_type_error_naming_the_exports() {
    let plugin = text_plugin();
    match error(call(&plugin, "nope", json!(null)).await) {
        SandboxError::Exception { name, message, .. } => {
            assert_eq!(name, "TypeError");
            assert!(message.contains("\"nope\"") && message.contains("upper, words"), "{message}");
        }
        other => panic!("expected a TypeError, got {other:?}"),
    }
}

#[tokio::test]
async fn a_plugin_that_loops_forever_is_stopped() {
    let plugin = text_plugin();
    let limits = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let outcome = plugin.call("spin", None, &RunOptions::default().with_limits(limits)).await;
    assert!(matches!(error(outcome), SandboxError::Timeout { budget: Budget::WallClock, .. }));

    let limits = Limits { fuel: Some(5_000_000), ..Limits::default() };
    let outcome = plugin.call("spin", None, &RunOptions::default().with_limits(limits)).await;
    assert_eq!(outcome.metrics.fuel_used, Some(5_000_000));
    assert!(matches!(error(outcome), SandboxError::Timeout { budget: Budget::Fuel, .. }));
}

#[tokio::test]
async fn a_plugin_that_exhausts_memory_is_stopped() {
    let plugin = text_plugin();
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let outcome = plugin.call("hoard", None, &RunOptions::default().with_limits(limits)).await;
    assert!(matches!(error(outcome), SandboxError::Memory { limit_bytes, .. } if limit_bytes == 16 << 20));
}

#[tokio::test]
async fn output_and_stack_are_bounded() {
    let plugin = text_plugin();
    let limits = Limits { output_bytes: 64 << 10, ..Limits::default() };
    let outcome = plugin.call("chatty", None, &RunOptions::default().with_limits(limits)).await;
    assert_eq!(error(outcome).kind(), "output_limit");
    assert_eq!(error(call(&plugin, "recurse", json!(0)).await).kind(), "stack_overflow");
}

#[tokio::test]
async fn the_host_keeps_serving_after_misbehaving_calls() {
    let plugin = text_plugin();
    let limits = Limits { timeout: Duration::from_millis(100), memory_bytes: 16 << 20, ..Limits::default() };
    let options = RunOptions::default().with_limits(limits);
    for function in ["spin", "hoard", "chatty", "recurse", "fail"] {
        assert!(plugin.call(function, Some(&json!(1)), &options).await.result.is_err(), "{function}");
        assert_eq!(call(&plugin, "upper", json!("still here")).await.result.unwrap(), json!("STILL HERE"));
    }
}

#[tokio::test]
async fn capabilities_are_granted_per_call() {
    let plugin = text_plugin();
    let input = json!({"key": "colour", "value": "green"});
    let granted = RunOptions::default().with_grants(["kv"]).with_tenant("plugins");
    assert_eq!(plugin.call("remember", Some(&input), &granted).await.result.unwrap(), json!("green"));
    match error(call(&plugin, "remember", input).await) {
        SandboxError::Exception { name, message, .. } => {
            assert_eq!(name, "ReferenceError");
            assert!(message.contains("kv"), "{message}");
        }
        other => panic!("expected a ReferenceError, got {other:?}"),
    }
    let unknown = RunOptions::default().with_grants(["nope"]);
    assert_eq!(error(plugin.call("upper", Some(&json!("a")), &unknown).await).kind(), "capability");
}

#[tokio::test]
async fn top_level_code_runs_in_the_sandbox_too() {
    let module = common::plugin("console.log('loading'); export const ok = () => 1;\nnull.x;", &["ok"]);
    let plugin = host().load(&module).unwrap();
    let outcome = call(&plugin, "ok", json!(null)).await;
    assert_eq!(outcome.logs[0].message, "loading");
    match error(outcome) {
        SandboxError::Exception { name, .. } => assert_eq!(name, "TypeError"),
        other => panic!("expected a TypeError, got {other:?}"),
    }
    assert!(plugin.session(&RunOptions::default()).await.is_err());
}

#[tokio::test]
async fn a_module_built_for_another_guest_is_refused() {
    let mut module = text_module().to_vec();
    let mut manifest = PluginManifest::read(&module).unwrap();
    manifest.guest = format!("sha256:{}", "0".repeat(64));
    manifest.append_to(&mut module);
    match host().load(&module) {
        Err(PluginError::GuestMismatch { built_for, host }) => {
            assert_eq!(built_for, manifest.guest);
            assert_eq!(host, isobox_wasm::guest_id());
        }
        other => panic!("expected a guest mismatch, got {:?}", other.err()),
    }

    let mut module = text_module().to_vec();
    manifest.abi = "isobox-guest-v0".into();
    manifest.append_to(&mut module);
    assert!(matches!(host().load(&module), Err(PluginError::AbiMismatch { .. })));
}

#[tokio::test]
async fn corrupt_and_foreign_files_are_refused() {
    assert_eq!(host().load(b"#!/bin/sh\necho hello\n").err(), Some(PluginError::NotWasm));
    assert_eq!(host().load(b"").err(), Some(PluginError::NotWasm));
    let module = text_module();
    assert!(matches!(host().load(&module[..module.len() / 2]), Err(PluginError::Invalid(_))));
    let plain = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
    assert_eq!(host().load(&plain).err(), Some(PluginError::NotAPlugin));
    let mut garbled = plain.clone();
    garbled.extend_from_slice(b"\0\x13\x0disobox-plugin{nope");
    assert!(matches!(host().load(&garbled), Err(PluginError::Malformed(_))));
}

#[tokio::test]
async fn a_module_importing_what_the_host_does_not_offer_is_refused() {
    let module = forged(
        r#"(module (import "isobox:guest@1.0.0" "memory" (memory 0)) (import "env" "fetch" (func)) (func (export "_start")))"#,
        Linking::Dynamic,
        &["f"],
    );
    assert_eq!(
        host().load(&module).err(),
        Some(PluginError::UnknownImport { module: "env".into(), name: "fetch".into() })
    );
    // Of the guest's exports, a plugin may import Javy's interface for compiled modules and no more.
    for name in ["secret", "isobox-run"] {
        let module = forged(
            &format!(r#"(module (import "isobox:guest@1.0.0" "{name}" (func)) (func (export "_start")))"#),
            Linking::Dynamic,
            &["f"],
        );
        assert_eq!(
            host().load(&module).err(),
            Some(PluginError::UnknownImport { module: "isobox:guest@1.0.0".into(), name: name.into() })
        );
    }
    let module = forged(
        r#"(module (import "isobox:guest@1.0.0" "invoke" (func (param i64))) (func (export "_start")))"#,
        Linking::Dynamic,
        &["f"],
    );
    assert!(matches!(host().load(&module), Err(PluginError::Invalid(message)) if message.contains("invoke")));
    let module = forged(
        r#"(module (import "wasi_snapshot_preview1" "sock_open" (func)) (func (export "_start")))"#,
        Linking::Static,
        &["f"],
    );
    assert!(matches!(host().load(&module), Err(PluginError::UnknownImport { name, .. }) if name == "sock_open"));
}

#[tokio::test]
async fn hand_written_modules_are_contained() {
    // Its own memory would escape the sandbox's memory limit.
    let module = forged(r#"(module (memory 1) (func (export "_start")))"#, Linking::Dynamic, &["f"]);
    assert!(matches!(host().load(&module), Err(PluginError::Invalid(_))));
    // A static module must be a guest.
    let module = forged(r#"(module (func (export "_start")))"#, Linking::Static, &["f"]);
    assert!(matches!(host().load(&module), Err(PluginError::Invalid(message)) if message.contains("memory")));
    // A module that never hands the guest its bytecode: the call fails, the host carries on.
    let module = forged(r#"(module (func (export "_start")))"#, Linking::Dynamic, &["f"]);
    let plugin = host().load(&module).unwrap();
    assert_eq!(error(call(&plugin, "f", json!(null)).await).kind(), "internal");
    // One that traps, or spins in WebAssembly rather than JavaScript, is stopped like any program.
    let module = forged(r#"(module (func (export "_start") unreachable))"#, Linking::Dynamic, &["f"]);
    assert_eq!(error(call(&host().load(&module).unwrap(), "f", json!(null)).await).kind(), "internal");
    let module = forged(r#"(module (func (export "_start") (loop (br 0))))"#, Linking::Dynamic, &["f"]);
    let limits = Limits { timeout: Duration::from_millis(100), ..Limits::default() };
    let outcome = host().load(&module).unwrap().call("f", None, &RunOptions::default().with_limits(limits)).await;
    assert!(matches!(error(outcome), SandboxError::Timeout { .. }));
}

/// What a module's own evaluation throws leaves the sandbox as any error does: counted against the output limit.
#[tokio::test]
async fn an_error_thrown_while_the_module_loads_counts_against_the_output_limit() {
    let module = common::plugin("export const ok = () => 1;\nthrow new Error('x'.repeat(4 << 20));", &["ok"]);
    let plugin = host().load(&module).unwrap();
    let outcome = call(&plugin, "ok", json!(null)).await;
    assert!(outcome.metrics.output_bytes <= Limits::DEFAULT_OUTPUT_BYTES, "{}", outcome.metrics.output_bytes);
    assert_eq!(error(outcome).kind(), "output_limit");
}

/// The compiled guest is cached as native code: a cache directory others can write to is not used.
#[cfg(unix)]
#[tokio::test]
async fn a_cache_directory_others_can_write_to_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let config = WasmConfig { cache_dir: Some(shared.clone()), max_sandboxes: 1, ..WasmConfig::default() };
    let backend = isobox_wasm::WasmBackend::new(config).expect("the backend starts without its cache");
    use isobox_core::Backend as _;
    assert_eq!(backend.run(&isobox_core::Request::new("return 6 * 7")).await.result.unwrap(), json!(42));
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0, "nothing was cached in a shared directory");
    // A private one is made with mode 0700 and used.
    let private = dir.path().join("private/cache");
    let config = WasmConfig { cache_dir: Some(private.clone()), max_sandboxes: 1, ..WasmConfig::default() };
    drop(isobox_wasm::WasmBackend::new(config).expect("the backend starts"));
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::read_dir(&private).unwrap().count(), 1, "the compiled guest was cached");
}
