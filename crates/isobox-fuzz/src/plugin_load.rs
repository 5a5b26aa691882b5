//! The plugin loader (`PluginHost::load`) on any bytes, and on forged plugins: small modules in the shapes a plugin
//! takes (dynamically linked to the guest, or standing in for a statically linked one) with a manifest built from the
//! fuzz bytes, then mutated.
//!
//! Properties: no panic; a typed `PluginError` or a plugin; `NotWasm` exactly for files without the WebAssembly
//! header; a loaded plugin's manifest is the one its `isobox-plugin` section holds, for this host's guest interface
//! (and, dynamically linked, this host's guest).

use std::sync::LazyLock;

use arbitrary::{Result, Unstructured};
use isobox_wasm::WasmConfig;
use isobox_wasm::plugin::{ABI, Linking, PluginError, PluginHost, PluginManifest, SECTION, append_custom_section};

/// Module shapes, in WAT: what `isobox compile` emits, and near misses the loader must refuse.
const MODULES: [&str; 10] = [
    // Dynamic linking as `isobox compile` emits it: bytecode handed to the guest's `invoke` from `_start`.
    r#"(module
        (import "isobox:guest@1.0.0" "cabi_realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
        (import "isobox:guest@1.0.0" "invoke" (func $invoke (param i32 i32 i32 i32 i32)))
        (import "isobox:guest@1.0.0" "memory" (memory 0))
        (data $bytecode "\02\04\00\01")
        (func (export "_start") (local $at i32)
          (local.set $at (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 4)))
          (memory.init $bytecode (local.get $at) (i32.const 0) (i32.const 4))
          (call $invoke (local.get $at) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0))))"#,
    r#"(module (func (export "_start")))"#,
    r#"(module (import "isobox:guest@1.0.0" "memory" (memory 0)) (func (export "_start")))"#,
    r#"(module (import "isobox:guest@1.0.0" "memory" (memory 1 2)) (func (export "_start")))"#,
    r#"(module (import "isobox:guest@1.0.0" "memory" (memory i64 0)) (func (export "_start")))"#,
    r#"(module (import "isobox:guest@1.0.0" "invoke" (func (param i64))) (func (export "_start")))"#,
    r#"(module (import "isobox:guest@1.0.0" "isobox-run" (func)) (func (export "_start")))"#,
    r#"(module (import "env" "fetch" (func)) (memory 1) (func (export "start")))"#,
    r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (func (export "_start")))"#,
    // The exports a statically linked plugin must have, with nothing behind them.
    r#"(module (memory (export "memory") 1)
        (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
        (func (export "isobox-plugin-begin")) (func (export "isobox-plugin-call"))
        (func (export "cabi_post_isobox-plugin-call")) (func (export "isobox-outcome")) (func (export "_start")))"#,
];

struct Setup {
    host: PluginHost,
    modules: Vec<Vec<u8>>,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    // Loading compiles modules and never instantiates them: two small slots are enough.
    let config = WasmConfig {
        max_sandboxes: 2,
        max_memory_bytes: 16 << 20,
        cache_dir: Some(std::env::temp_dir().join("isobox-fuzz-cache")),
        ..WasmConfig::default()
    };
    let modules = MODULES.iter().map(|wat| wat::parse_str(wat).expect("the module shapes parse")).collect();
    Setup { host: PluginHost::new(config).expect("the plugin host starts"), modules }
});

/// The `plugin_load` target: loads `data` as it is, or a forged plugin built from it. Panics when one of this
/// module's properties fails.
pub fn plugin_load(data: &[u8]) {
    let setup = &*SETUP;
    let mut u = Unstructured::new(data);
    let module = match u.arbitrary::<bool>() {
        Ok(true) => match forged(&mut u, setup) {
            Ok(module) => module,
            Err(_) => return,
        },
        _ => data.get(1..).unwrap_or_default().to_vec(),
    };
    check(&setup.host, &module);
}

/// A module of one of the shapes, with a manifest mostly as `isobox compile` writes it, then a few bytes changed.
fn forged(u: &mut Unstructured, setup: &Setup) -> Result<Vec<u8>> {
    let mut module = u.choose(&setup.modules)?.clone();
    let mut manifest = PluginManifest::new(if u.arbitrary()? { Linking::Static } else { Linking::Dynamic }, Vec::new());
    manifest.exports = u.arbitrary()?;
    if u.ratio(1, 8)? {
        manifest.guest = u.arbitrary()?;
    }
    if u.ratio(1, 8)? {
        manifest.abi = u.arbitrary()?;
    }
    if u.ratio(1, 8)? {
        manifest.format = u.arbitrary()?;
    }
    match u.int_in_range(0..=7)? {
        // No manifest, or a section whose payload is any bytes.
        0 => {}
        1 => {
            let payload: &[u8] = u.arbitrary()?;
            append_custom_section(&mut module, SECTION, payload);
        }
        // Two manifests: the last one counts.
        2 => {
            PluginManifest::new(Linking::Dynamic, vec!["first".into()]).append_to(&mut module);
            manifest.append_to(&mut module);
        }
        _ => manifest.append_to(&mut module),
    }
    for _ in 0..u.int_in_range(0..=2)? {
        if module.is_empty() {
            break;
        }
        let at = u.choose_index(module.len())?;
        match u.int_in_range(0..=2)? {
            0 => module[at] ^= u.arbitrary::<u8>()?.max(1),
            1 => module.truncate(at),
            _ => module.insert(at, u.arbitrary()?),
        }
    }
    Ok(module)
}

/// Seeds for the corpus: each module shape with the manifest `isobox compile` would write for it (statically linked
/// for the last, which has the guest's exports), as raw input (a leading even byte, then the module).
pub fn seeds() -> Vec<Vec<u8>> {
    MODULES
        .iter()
        .enumerate()
        .map(|(i, wat)| {
            let mut module = wat::parse_str(wat).expect("the module shapes parse");
            let linking = if i == MODULES.len() - 1 { Linking::Static } else { Linking::Dynamic };
            PluginManifest::new(linking, vec!["upper".into(), "words".into()]).append_to(&mut module);
            [&[0u8][..], &module].concat()
        })
        .collect()
}

fn check(host: &PluginHost, module: &[u8]) {
    let is_wasm = module.starts_with(b"\0asm\x01\0\0\0");
    match host.load(module) {
        Ok(plugin) => {
            let manifest = PluginManifest::read(module).expect("a loaded plugin has a manifest");
            assert_eq!(plugin.manifest(), &manifest);
            assert_eq!(manifest.abi, ABI);
            if manifest.linking == Linking::Dynamic {
                assert_eq!(manifest.guest, isobox_wasm::guest_id());
            }
        }
        Err(error) => {
            assert_eq!(error == PluginError::NotWasm, !is_wasm, "{error}");
            assert!(!error.to_string().is_empty());
        }
    }
}
