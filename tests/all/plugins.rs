//! Plugins compiled with isobox-compile (javy-codegen) end to end: compile → load → call, with dynamic and static
//! linking. The plugin host itself is tested in isobox-wasm, with hand-built modules.

use std::sync::LazyLock;
use std::time::Duration;

use isobox::RunOptions;
use isobox::kv::KvStore;
use isobox::plugin::{Linking, Plugin, PluginError, PluginHost, PluginManifest};
use isobox::{Budget, Capabilities, Limits, Outcome, SandboxError, WasmConfig};
use isobox_compile::{CompileError, CompileOptions};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

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

/// The plugin both plugin test suites use: well-behaved exports and misbehaving ones.
const TEXT: &str = include_str!("../plugins/text.js");

/// The text plugin compiled once per test process (dynamic linking, the default).
async fn text_module() -> &'static [u8] {
    static MODULE: OnceCell<Vec<u8>> = OnceCell::const_new();
    MODULE.get_or_init(|| async { compile(TEXT, Linking::Dynamic).await }).await
}

async fn text_plugin() -> Plugin {
    host().load(text_module().await).expect("the text plugin loads")
}

async fn compile(source: &str, linking: Linking) -> Vec<u8> {
    isobox_compile::compile(source, CompileOptions { linking }).await.expect("the plugin compiles")
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
async fn a_dynamically_linked_plugin_is_small_and_records_its_guest_and_exports() {
    let module = text_module().await;
    assert!(module.len() < 64 << 10, "a dynamically linked plugin is {} bytes", module.len());
    let manifest = PluginManifest::read(module).unwrap();
    assert_eq!(manifest.guest, isobox::wasm::guest_id());
    assert_eq!(manifest.linking, Linking::Dynamic);
    assert_eq!(manifest.exports, ["upper", "words", "count", "fail", "spin", "hoard", "chatty", "recurse", "remember"]);
}

#[tokio::test]
async fn calls_exported_functions_with_json_input_and_output() {
    let plugin = text_plugin().await;
    assert_eq!(call(&plugin, "upper", json!("quiet")).await.result.unwrap(), json!("QUIET"));
    let outcome = call(&plugin, "words", json!("  a plugin  call ")).await;
    assert_eq!(outcome.result.unwrap(), json!(["a", "plugin", "call"]));
    assert_eq!(outcome.logs.len(), 1);
    assert_eq!(outcome.logs[0].message, "splitting 17 characters");
    assert!(outcome.metrics.output_bytes > 0 && outcome.metrics.memory_bytes > 0);
}

#[tokio::test]
async fn top_level_code_runs_in_the_sandbox_too() {
    let module = compile(
        "console.log('loading'); export const ok = () => 1; if (globalThis.boom) {}\nnull.x;",
        Linking::Dynamic,
    )
    .await;
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
async fn a_statically_linked_plugin_runs_alone() {
    let module = compile("export function double(input) { return input * 2 }", Linking::Static).await;
    assert!(module.len() > 512 << 10, "a statically linked plugin holds the guest: {} bytes", module.len());
    let plugin = host().load(&module).expect("the static plugin loads");
    assert_eq!(plugin.manifest().linking, Linking::Static);
    assert_eq!(call(&plugin, "double", json!(21)).await.result.unwrap(), json!(42));
    let limits = Limits { fuel: Some(1_000_000), ..Limits::default() };
    let spin = compile("export function spin() { for (;;) {} }", Linking::Static).await;
    let outcome = host().load(&spin).unwrap().call("spin", None, &RunOptions::default().with_limits(limits)).await;
    assert!(matches!(error(outcome), SandboxError::Timeout { budget: Budget::Fuel, .. }));
}

#[tokio::test]
async fn compile_errors_are_typed() {
    let options = CompileOptions::default();
    match isobox_compile::compile("export function f(input) {\n  return input +;\n}", options).await {
        Err(CompileError::Syntax { line: 2, .. }) => {}
        other => panic!("expected a syntax error on line 2, got {other:?}"),
    }
    assert!(matches!(isobox_compile::compile("const x = 1;", options).await, Err(CompileError::NoExports)));
}

#[tokio::test]
async fn misbehaving_compiled_plugins_are_contained_and_the_host_keeps_serving() {
    let plugin = text_plugin().await;
    let limits = Limits {
        timeout: Duration::from_millis(200),
        memory_bytes: 16 << 20,
        output_bytes: 64 << 10,
        ..Limits::default()
    };
    let options = RunOptions::default().with_limits(limits);
    let expected = [
        ("fail", "exception"),
        ("spin", "timeout"),
        ("hoard", "memory"),
        ("chatty", "output_limit"),
        ("recurse", "stack_overflow"),
        ("remember", "exception"), // `kv` is not granted
        ("missing", "exception"),
    ];
    for (function, kind) in expected {
        let outcome = plugin.call(function, Some(&json!(1)), &options).await;
        assert_eq!(error(outcome).kind(), kind, "{function}");
        assert_eq!(call(&plugin, "upper", json!("still here")).await.result.unwrap(), json!("STILL HERE"));
    }
    let granted = RunOptions::default().with_grants(["kv"]).with_tenant("compiled");
    let input = json!({"key": "colour", "value": "green"});
    assert_eq!(plugin.call("remember", Some(&input), &granted).await.result.unwrap(), json!("green"));
}

#[tokio::test]
async fn each_call_gets_a_fresh_sandbox_and_a_session_keeps_one() {
    let plugin = text_plugin().await;
    for _ in 0..2 {
        assert_eq!(call(&plugin, "count", json!("a b")).await.result.unwrap(), json!({"calls": 0, "words": 2}));
        assert_eq!(call(&plugin, "upper", json!("x")).await.result.unwrap(), json!("X"));
    }
    let mut session = plugin.session(&RunOptions::default()).await.unwrap();
    for calls in 1..=3 {
        assert_eq!(session.call("upper", Some(&json!("x"))).await.result.unwrap(), json!("X"));
        assert_eq!(session.call("count", Some(&json!("a"))).await.result.unwrap(), json!({"calls": calls, "words": 1}));
    }
}

#[tokio::test]
async fn a_compiled_module_cut_short_or_built_for_another_guest_is_refused() {
    let module = text_module().await;
    assert!(matches!(host().load(&module[..module.len() - 40]), Err(PluginError::Invalid(_))));
    let mut other = module.to_vec();
    let mut manifest = PluginManifest::read(module).unwrap();
    manifest.guest = format!("sha256:{}", "f".repeat(64));
    manifest.append_to(&mut other);
    assert!(matches!(host().load(&other), Err(PluginError::GuestMismatch { .. })));
}
