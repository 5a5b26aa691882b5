//! Checks that both sides of the guest interface agree with `wit/guest.wit`: the host's linker provides exactly the
//! world's imports, and the embedded guest exports exactly the world's exports, each with the core signature the
//! canonical ABI gives it.

use std::collections::BTreeMap;

use isobox_capabilities::Capabilities;
use isobox_core::{Limits, Request};
use wasmtime::{Config, Engine, ExternType, Linker, Module, ValType};
use wit_parser::abi::{AbiVariant, WasmType};
use wit_parser::{
    Function, LiftLowerAbi, ManglingAndAbi, Resolve, Type, TypeDefKind, WasmExport, WasmExportKind, WasmImport,
    WorldId, WorldItem, WorldKey,
};

use crate::sandbox::{self, SandboxState};

const GUEST_WIT: &str = include_str!("../../../wit/guest.wit");

/// The guest is bound the way `wit-bindgen` binds a core module: legacy names, synchronous calls.
const MANGLING: ManglingAndAbi = ManglingAndAbi::Legacy(LiftLowerAbi::Sync);

/// WASI preview 1, which the guest imports besides the world (its standard library's); it is not part of the WIT.
use crate::wasi::WASI_MODULE;

/// A core function type, written as `(params) -> (results)` for readable failures.
type Signature = String;

fn signature(params: impl IntoIterator<Item = String>, results: impl IntoIterator<Item = String>) -> Signature {
    let join = |types: Vec<String>| types.join(", ");
    format!("({}) -> ({})", join(params.into_iter().collect()), join(results.into_iter().collect()))
}

/// The core type of a canonical-ABI value on wasm32, where pointers and lengths are 32-bit.
fn core_type(ty: &WasmType) -> String {
    match ty {
        WasmType::I32 | WasmType::Pointer | WasmType::Length => "i32",
        WasmType::I64 | WasmType::PointerOrI64 => "i64",
        WasmType::F32 => "f32",
        WasmType::F64 => "f64",
    }
    .to_string()
}

fn val_type(ty: ValType) -> String {
    match ty {
        ValType::I32 => "i32".into(),
        ValType::I64 => "i64".into(),
        ValType::F32 => "f32".into(),
        ValType::F64 => "f64".into(),
        other => format!("{other:?}"),
    }
}

fn extern_signature(ty: &ExternType) -> Signature {
    match ty {
        ExternType::Func(func) => signature(func.params().map(val_type), func.results().map(val_type)),
        other => format!("not a function: {other:?}"),
    }
}

fn world(source: &str) -> (Resolve, WorldId) {
    let mut resolve = Resolve::default();
    let package = resolve.push_str("wit/guest.wit", source).expect("wit/guest.wit parses");
    let world = resolve.select_world(&[package], Some("guest")).expect("wit/guest.wit declares the world `guest`");
    (resolve, world)
}

/// The world's imports as core `(module, name)`, with their signatures.
fn world_imports(resolve: &Resolve, world: WorldId) -> BTreeMap<(String, String), Signature> {
    functions(resolve, &resolve.worlds[world].imports)
        .map(|(interface, func)| {
            let name = resolve.wasm_import_name(MANGLING, WasmImport::Func { interface, func });
            (name, core_signature(resolve, AbiVariant::GuestImport, func))
        })
        .collect()
}

/// The functions of a world's imports or exports, with the interface each belongs to (`None` for a bare function).
fn functions<'a>(
    resolve: &'a Resolve,
    items: impl IntoIterator<Item = (&'a WorldKey, &'a WorldItem)>,
) -> impl Iterator<Item = (Option<&'a WorldKey>, &'a Function)> {
    items.into_iter().flat_map(move |(key, item)| -> Vec<(Option<&'a WorldKey>, &'a Function)> {
        match item {
            WorldItem::Interface { id, .. } => {
                resolve.interfaces[*id].functions.values().map(|func| (Some(key), func)).collect()
            }
            WorldItem::Function(func) => vec![(None, func)],
            WorldItem::Type { .. } => Vec::new(),
        }
    })
}

/// The core signature the canonical ABI gives `func` on this side of the boundary.
fn core_signature(resolve: &Resolve, variant: AbiVariant, func: &Function) -> Signature {
    let sig = resolve.wasm_signature(variant, func);
    signature(sig.params.iter().map(core_type), sig.results.iter().map(core_type))
}

/// Whether a value of `ty` owns guest memory (a string or a list, at any depth): a function returning one has a
/// post-return function that frees it.
fn owns_memory(resolve: &Resolve, ty: &Type) -> bool {
    let Type::Id(id) = ty else {
        return matches!(ty, Type::String);
    };
    let any = |types: Vec<&Type>| types.into_iter().any(|ty| owns_memory(resolve, ty));
    match &resolve.types[*id].kind {
        TypeDefKind::List(_) | TypeDefKind::FixedSizeList(..) => true,
        TypeDefKind::Option(ty) | TypeDefKind::Type(ty) => owns_memory(resolve, ty),
        TypeDefKind::Result(result) => any(result.ok.iter().chain(result.err.iter()).collect()),
        TypeDefKind::Tuple(tuple) => any(tuple.types.iter().collect()),
        TypeDefKind::Record(record) => any(record.fields.iter().map(|field| &field.ty).collect()),
        TypeDefKind::Variant(variant) => any(variant.cases.iter().filter_map(|case| case.ty.as_ref()).collect()),
        _ => false,
    }
}

/// The core exports the world gives the guest, with their signatures: each function, its post-return function
/// (`cabi_post_…`) when its result owns guest memory, and the canonical ABI's allocator.
fn world_exports(resolve: &Resolve, world: WorldId) -> BTreeMap<String, Signature> {
    let i32 = || "i32".to_string();
    let mut exports = BTreeMap::from([(
        resolve.wasm_export_name(MANGLING, WasmExport::Realloc),
        signature([i32(), i32(), i32(), i32()], [i32()]),
    )]);
    for (interface, func) in functions(resolve, &resolve.worlds[world].exports) {
        let name =
            resolve.wasm_export_name(MANGLING, WasmExport::Func { interface, func, kind: WasmExportKind::Normal });
        exports.insert(name, core_signature(resolve, AbiVariant::GuestExport, func));
        if func.result.as_ref().is_some_and(|ty| owns_memory(resolve, ty)) {
            let kind = WasmExportKind::PostReturn;
            let name = resolve.wasm_export_name(MANGLING, WasmExport::Func { interface, func, kind });
            exports.insert(name, signature([i32()], []));
        }
    }
    exports
}

fn engine() -> Engine {
    // Sandbox stores set an epoch deadline.
    Engine::new(Config::new().epoch_interruption(true)).expect("an engine")
}

/// The host's linker: the imports every sandbox is instantiated with, WASI's or isobox's own.
fn host_linker_imports(engine: &Engine, wasi: bool) -> BTreeMap<(String, String), Signature> {
    let mut linker = Linker::<SandboxState>::new(engine);
    crate::imports::add_imports(&mut linker).expect("the host's imports link");
    let host_calls = Capabilities::new().host_calls(&Request::new("")).expect("no grants");
    let mut store = sandbox::new_store(engine, &Limits::default(), host_calls, crate::pool::Fuel::Uncounted);
    let defined: Vec<_> =
        linker.iter(&mut store).map(|(module, name, item)| (module.to_string(), name.to_string(), item)).collect();
    defined
        .into_iter()
        .filter(|(module, _, _)| (module == WASI_MODULE) == wasi)
        .map(|(module, name, item)| ((module, name), extern_signature(&item.ty(&store))))
        .collect()
}

fn guest_module(engine: &Engine) -> Module {
    Module::new(engine, crate::guest::RAW_GUEST).expect("the embedded guest compiles")
}

/// The embedded guest's imports, WASI's or the others, with their signatures.
fn guest_imports(engine: &Engine, wasi: bool) -> BTreeMap<(String, String), Signature> {
    guest_module(engine)
        .imports()
        .filter(|import| (import.module() == WASI_MODULE) == wasi)
        .map(|import| ((import.module().to_string(), import.name().to_string()), extern_signature(&import.ty())))
        .collect()
}

/// Differences between what the WIT says and what a side has, one per line.
fn differences<K: Ord + std::fmt::Debug>(wit: &BTreeMap<K, Signature>, actual: &BTreeMap<K, Signature>) -> String {
    let mut lines = Vec::new();
    for (name, expected) in wit {
        match actual.get(name) {
            None => lines.push(format!("missing {name:?}: the WIT gives it {expected}")),
            Some(found) if found != expected => lines.push(format!("{name:?} is {found}, the WIT gives it {expected}")),
            Some(_) => {}
        }
    }
    for (name, found) in actual {
        if !wit.contains_key(name) {
            lines.push(format!("{name:?} ({found}) is not in the WIT"));
        }
    }
    lines.join("\n")
}

#[test]
fn the_host_linker_provides_exactly_the_worlds_imports() {
    let (resolve, world) = world(GUEST_WIT);
    let wit = world_imports(&resolve, world);
    assert!(wit.keys().all(|(module, _)| module == crate::imports::HOST_MODULE), "{wit:?}");
    let linker = host_linker_imports(&engine(), false);
    let differences = differences(&wit, &linker);
    assert!(differences.is_empty(), "the host's linker and wit/guest.wit disagree:\n{differences}");
}

/// isobox answers the guest's WASI imports itself (`wasi.rs`): exactly those, with the guest's signatures.
#[test]
fn the_host_linker_provides_exactly_the_guests_wasi_imports() {
    let engine = engine();
    let guest = guest_imports(&engine, true);
    assert!(guest.len() >= 5, "the guest imports WASI: {guest:?}");
    let differences = differences(&guest, &host_linker_imports(&engine, true));
    assert!(differences.is_empty(), "the host's WASI and the guest's imports of it disagree:\n{differences}");
}

#[test]
fn the_guest_imports_exactly_the_worlds_imports_and_wasi() {
    let (resolve, world) = world(GUEST_WIT);
    let wit = world_imports(&resolve, world);
    let differences = differences(&wit, &guest_imports(&engine(), false));
    assert!(differences.is_empty(), "the guest's imports and wit/guest.wit disagree:\n{differences}");
}

#[test]
fn the_guest_exports_exactly_the_worlds_exports() {
    let (resolve, world) = world(GUEST_WIT);
    let wit = world_exports(&resolve, world);
    let module = guest_module(&engine());
    let mut memories = 0;
    let mut exports = BTreeMap::new();
    for export in module.exports() {
        match export.ty() {
            ExternType::Memory(_) if export.name() == "memory" => memories += 1,
            // wit-bindgen's allocator under its own name, which its `cabi_realloc` forwards to.
            _ if export.name().starts_with("cabi_realloc_wit_bindgen_") => {}
            ty => {
                exports.insert(export.name().to_string(), extern_signature(&ty));
            }
        }
    }
    assert_eq!(memories, 1, "the guest exports its memory as `memory`");
    let differences = differences(&wit, &exports);
    assert!(differences.is_empty(), "the guest's exports and wit/guest.wit disagree:\n{differences}");
}

#[test]
fn the_plugin_interface_is_the_wit_package() {
    let (resolve, world) = world(GUEST_WIT);
    let package = resolve.worlds[world].package.expect("the world is in a package");
    assert_eq!(resolve.packages[package].name.to_string(), crate::plugin::ABI);
}

/// The check itself: a WIT whose `call` returns another type disagrees with both sides.
#[test]
fn a_changed_signature_is_a_difference() {
    let changed = GUEST_WIT.replace("args: string) -> u64;", "args: string) -> u32;");
    assert_ne!(changed, GUEST_WIT, "the WIT declares `call` as this test expects");
    let (resolve, world) = world(&changed);
    let differences = differences(&world_imports(&resolve, world), &host_linker_imports(&engine(), false));
    assert!(
        differences.contains(r#"("isobox:guest/host@1.0.0", "call") is (i32, i32, i32, i32) -> (i64)"#),
        "{differences}"
    );
}
