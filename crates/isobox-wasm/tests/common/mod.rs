//! Plugin modules as javy-codegen emits them with dynamic linking, built here so that the plugin host's tests do not
//! need javy-codegen (and binaryen's C++): the guest compiles the source to bytecode (`compile-src`), and a small
//! module hands it to the guest's `invoke` from `_start`.

use isobox_wasm::plugin::{Linking, PluginManifest};
use wasmtime::{Engine, Linker, Module, Store};

/// A dynamically linked plugin of `source` whose manifest lists `exports`.
pub fn plugin(source: &str, exports: &[&str]) -> Vec<u8> {
    let bytecode = bytecode(source);
    let data: String = bytecode.iter().map(|byte| format!("\\{byte:02x}")).collect();
    let len = bytecode.len();
    let wat = format!(
        r#"(module
          (import "isobox:guest@1.0.0" "cabi_realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
          (import "isobox:guest@1.0.0" "invoke" (func $invoke (param i32 i32 i32 i32 i32)))
          (import "isobox:guest@1.0.0" "memory" (memory 0))
          (data $bytecode "{data}")
          (func (export "_start") (local $at i32)
            (local.set $at (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.const {len})))
            (memory.init $bytecode (local.get $at) (i32.const 0) (i32.const {len}))
            (call $invoke (local.get $at) (i32.const {len}) (i32.const 0) (i32.const 0) (i32.const 0))))"#
    );
    forged(&wat, Linking::Dynamic, exports)
}

/// A hand-written module (WAT) with a manifest as `isobox compile` writes it.
pub fn forged(wat: &str, linking: Linking, exports: &[&str]) -> Vec<u8> {
    let mut module = wat::parse_str(wat).expect("the WAT parses");
    PluginManifest::new(linking, exports.iter().map(|name| name.to_string()).collect()).append_to(&mut module);
    module
}

/// QuickJS bytecode of an ES module, from the guest's `compile-src`.
fn bytecode(source: &str) -> Vec<u8> {
    let engine = Engine::default();
    let guest = isobox_wasm::pre_initialised_guest().expect("the guest pre-initialises");
    let module = Module::new(&engine, guest).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.define_unknown_imports_as_default_values(&mut store, &module).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    let realloc = instance.get_typed_func::<(u32, u32, u32, u32), u32>(&mut store, "cabi_realloc").unwrap();
    let compile = instance.get_typed_func::<(u32, u32), u32>(&mut store, "compile-src").unwrap();
    let at = realloc.call(&mut store, (0, 0, 1, source.len() as u32)).unwrap();
    memory.write(&mut store, at as usize, source.as_bytes()).unwrap();
    let area = compile.call(&mut store, (at, source.len() as u32)).unwrap();
    let mut words = [0u8; 12];
    memory.read(&store, area as usize, &mut words).unwrap();
    let word = |i: usize| u32::from_le_bytes(words[i * 4..i * 4 + 4].try_into().unwrap());
    let mut payload = vec![0; word(2) as usize];
    memory.read(&store, word(1) as usize, &mut payload).unwrap();
    // A `result<list<u8>, string>`: the discriminant byte, then the payload's pointer and length.
    assert_eq!(words[0], 0, "compile-src failed: {}", String::from_utf8_lossy(&payload));
    payload
}
