//! Writing plugin modules. The guest compiles a plugin's source to QuickJS bytecode ([`bytecode`]); a module carries
//! the bytecode in a passive data segment and a `_start` function that copies it into the guest's memory and hands it
//! to the guest's `invoke`, which evaluates the module. A dynamically linked module imports the guest's memory,
//! allocator and `invoke` ([`dynamically_linked`]: a hundred bytes besides the bytecode); a statically linked one is
//! the pre-initialised guest itself with the segment and `_start` added ([`statically_linked`]).

use std::sync::OnceLock;

use wasm_encoder::{
    CodeSection, DataCountSection, DataSection, Encode, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, ImportSection, MemoryType, RawSection, TypeSection, ValType,
};
use wasmparser::{BinaryReader, ExternalKind, Parser, Payload, TypeRef};
use wasmtime::{Caller, Config, Engine, Extern, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};

use crate::plugin::{ABI, Linking, PluginManifest};
use crate::sandbox::Reported;

/// Why a plugin module could not be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// QuickJS did not compile the source; its message.
    #[error("QuickJS did not compile the plugin: {0}")]
    Rejected(String),

    /// The guest could not be prepared or run to compile the source, or its module is not as isobox builds it.
    #[error("the guest could not compile the plugin: {0}")]
    Guest(String),
}

/// A compiled plugin of `source`: its bytecode in a module linked as `linking`, with a manifest listing `exports` (the
/// functions the source exports, which a host may call).
///
/// # Errors
/// As [`bytecode`], [`dynamically_linked`] and [`statically_linked`].
pub fn plugin(source: &str, linking: Linking, exports: Vec<String>) -> Result<Vec<u8>, EmitError> {
    let bytecode = bytecode(source)?;
    let mut module = match linking {
        Linking::Dynamic => dynamically_linked(&bytecode)?,
        Linking::Static => statically_linked(&bytecode)?,
    };
    PluginManifest::new(linking, exports).append_to(&mut module);
    Ok(module)
}

/// The most memory the guest may take to compile one plugin's source.
const COMPILE_MEMORY_BYTES: usize = 512 << 20;

/// The most fuel (about one unit per WebAssembly instruction) compiling one plugin's source may take: some seconds of
/// work, a hundred times what compiling a megabyte of JavaScript takes.
const COMPILE_FUEL: u64 = 20_000_000_000;

/// The QuickJS bytecode of an ES module, compiled by this build's guest: what a plugin module carries. Compiling runs
/// no code of the module. It runs in a sandbox of its own, bounded in memory and instructions.
///
/// # Errors
/// [`EmitError::Rejected`] when QuickJS does not compile the source (a syntax error, a nesting too deep for its stack,
/// a source larger than the memory bound) and [`EmitError::Guest`] when the guest could not be run.
pub fn bytecode(source: &str) -> Result<Vec<u8>, EmitError> {
    let (engine, module) = compiler()?;
    let guest = |error: wasmtime::Error| EmitError::Guest(format!("{error:#}"));
    let Ok(len) = u32::try_from(source.len()) else {
        return Err(EmitError::Rejected(format!("the source is {} bytes, more than the guest can hold", source.len())));
    };
    let limits = StoreLimitsBuilder::new().memory_size(COMPILE_MEMORY_BYTES).build();
    let mut store = Store::new(engine, limits);
    store.limiter(|limits: &mut StoreLimits| limits);
    store.set_fuel(COMPILE_FUEL).map_err(guest)?;
    let mut linker = Linker::new(engine);
    // Compiling calls none of isobox's host functions and, of WASI, only asks for the environment (on its error path):
    // it is empty, and every other import does nothing and returns zero.
    linker
        .func_wrap("wasi_snapshot_preview1", "environ_sizes_get", empty_environment)
        .and_then(|linker| linker.define_unknown_imports_as_default_values(&mut store, module))
        .map_err(guest)?;
    let instance = linker.instantiate(&mut store, module).map_err(guest)?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| EmitError::Guest("the guest exports no memory".into()))?;
    let realloc = instance.get_typed_func::<(u32, u32, u32, u32), u32>(&mut store, "cabi_realloc").map_err(guest)?;
    let compile = instance.get_typed_func::<(u32, u32), u32>(&mut store, "compile-src").map_err(guest)?;
    // Running out of memory or fuel, or a trap, means this source cannot be compiled within the bounds.
    let rejected = |error: wasmtime::Error| EmitError::Rejected(format!("{error:#}"));
    let at = realloc.call(&mut store, (0, 0, 1, len)).map_err(rejected)?;
    memory.write(&mut store, at as usize, source.as_bytes()).map_err(|error| rejected(error.into()))?;
    let area = compile.call(&mut store, (at, len)).map_err(rejected)?;
    // A `result<list<u8>, string>`, read as every outcome of the guest is.
    let reported = Reported::read(&store, memory, area).map_err(guest)?;
    let payload = reported.payload(memory.data(&store)).map_err(guest)?;
    match reported.ok {
        true => Ok(payload.to_vec()),
        false => Err(EmitError::Rejected(String::from_utf8_lossy(payload).trim_end().to_string())),
    }
}

/// WASI's `environ_sizes_get` for an empty environment: no variables, no bytes.
fn empty_environment(mut caller: Caller<'_, StoreLimits>, count: u32, bytes: u32) -> u32 {
    const SUCCESS: u32 = 0;
    const FAULT: u32 = 21;
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else { return FAULT };
    let zero = [0u8; 4];
    match memory
        .write(&mut caller, count as usize, &zero)
        .and_then(|()| memory.write(&mut caller, bytes as usize, &zero))
    {
        Ok(()) => SUCCESS,
        Err(_) => FAULT,
    }
}

/// A plugin module that imports the guest (from [`ABI`]) and runs `bytecode` on it.
///
/// # Errors
/// [`EmitError::Rejected`] if the bytecode is larger than a module can hold (2 GiB).
pub fn dynamically_linked(bytecode: &[u8]) -> Result<Vec<u8>, EmitError> {
    let len = bytecode_len(bytecode)?;
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32; 4], [ValType::I32]);
    types.ty().function([ValType::I32; 5], []);
    types.ty().function([], []);
    let mut imports = ImportSection::new();
    imports.import(ABI, "cabi_realloc", EntityType::Function(0));
    imports.import(ABI, "invoke", EntityType::Function(1));
    let memory = MemoryType { minimum: 0, maximum: None, memory64: false, shared: false, page_size_log2: None };
    imports.import(ABI, "memory", memory);
    let mut functions = FunctionSection::new();
    functions.function(2);
    let mut exports = ExportSection::new();
    exports.export("_start", ExportKind::Func, 2);
    let mut code = CodeSection::new();
    code.function(&start(Linked { realloc: 0, invoke: 1, memory: 0 }, 0, len));
    let mut data = DataSection::new();
    data.passive(bytecode.iter().copied());

    let mut module = wasm_encoder::Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&exports)
        .section(&DataCountSection { count: 1 })
        .section(&code)
        .section(&data);
    Ok(module.finish())
}

/// A self-contained plugin module: the pre-initialised guest (as [`pre_initialised_guest`](crate::pre_initialised_guest)
/// makes it) with `bytecode` and a `_start` that runs it.
///
/// # Errors
/// [`EmitError::Guest`] if the guest could not be pre-initialised or is not a module isobox can extend, and
/// [`EmitError::Rejected`] if the bytecode is larger than a module can hold (2 GiB).
pub fn statically_linked(bytecode: &[u8]) -> Result<Vec<u8>, EmitError> {
    let len = bytecode_len(bytecode)?;
    let guest = pre_initialised()?;
    let shape = Shape::of(guest)?;
    let linked = shape.linked.ok_or_else(|| {
        EmitError::Guest(
            "the guest does not export `cabi_realloc`, `invoke` and `memory` as functions and memory".into(),
        )
    })?;

    let mut start_body = Vec::new();
    start(linked, shape.data_segments, len).encode(&mut start_body);
    let mut segment = vec![1]; // a passive data segment
    bytecode.encode(&mut segment);

    let mut module = wasm_encoder::Module::new();
    let mut data_count_written = false;
    for payload in Parser::new(0).parse_all(guest) {
        let payload = payload.map_err(malformed)?;
        let Some((id, range)) = payload.as_section() else { continue };
        let content = &guest[range];
        let section = match id {
            TYPE => appended(content, &[0x60, 0, 0])?,         // func () -> ()
            FUNCTION => appended(content, &leb(shape.types))?, // of the type added above
            EXPORT => appended(content, &export_entry("_start", shape.imported_functions + shape.defined_functions))?,
            DATA_COUNT => {
                data_count_written = true;
                leb(shape.data_segments + 1)
            }
            CODE => {
                if !data_count_written {
                    // `memory.init` needs the data count, declared before the code.
                    module.section(&DataCountSection { count: shape.data_segments + 1 });
                }
                appended(content, &start_body)?
            }
            DATA => appended(content, &segment)?,
            _ => content.to_vec(),
        };
        module.section(&RawSection { id, data: &section });
        if id == CODE && !shape.has_data_section {
            // The guest had no data section: the new segment is the first.
            module.section(&RawSection { id: DATA, data: &[&[1][..], &segment].concat() });
        }
    }
    Ok(module.finish())
}

/// The guest's functions and memory `_start` uses, by index.
#[derive(Clone, Copy)]
struct Linked {
    realloc: u32,
    invoke: u32,
    memory: u32,
}

/// `_start`: copies the bytecode from its passive segment into memory the guest allocates, and evaluates it.
fn start(linked: Linked, segment: u32, len: i32) -> Function {
    let mut function = Function::new([(1, ValType::I32)]);
    function
        .instructions()
        // cabi_realloc(null, 0, align 1, len)
        .i32_const(0)
        .i32_const(0)
        .i32_const(1)
        .i32_const(len)
        .call(linked.realloc)
        .local_tee(0)
        .i32_const(0)
        .i32_const(len)
        .memory_init(linked.memory, segment)
        // invoke(bytecode, len, no function name)
        .local_get(0)
        .i32_const(len)
        .i32_const(0)
        .i32_const(0)
        .i32_const(0)
        .call(linked.invoke)
        .end();
    function
}

/// What [`statically_linked`] needs to know of the guest before it writes a section.
struct Shape {
    types: u32,
    imported_functions: u32,
    defined_functions: u32,
    data_segments: u32,
    has_data_section: bool,
    linked: Option<Linked>,
}

impl Shape {
    fn of(guest: &[u8]) -> Result<Self, EmitError> {
        let mut shape = Shape {
            types: 0,
            imported_functions: 0,
            defined_functions: 0,
            data_segments: 0,
            has_data_section: false,
            linked: None,
        };
        let (mut realloc, mut invoke, mut memory) = (None, None, None);
        for payload in Parser::new(0).parse_all(guest) {
            match payload.map_err(malformed)? {
                Payload::TypeSection(types) => {
                    for group in types {
                        shape.types += group.map_err(malformed)?.types().len() as u32;
                    }
                }
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        if matches!(import.map_err(malformed)?.ty, TypeRef::Func(_)) {
                            shape.imported_functions += 1;
                        }
                    }
                }
                Payload::FunctionSection(functions) => shape.defined_functions = functions.count(),
                Payload::ExportSection(exports) => {
                    for export in exports {
                        let export = export.map_err(malformed)?;
                        match (export.name, export.kind) {
                            ("cabi_realloc", ExternalKind::Func) => realloc = Some(export.index),
                            ("invoke", ExternalKind::Func) => invoke = Some(export.index),
                            ("memory", ExternalKind::Memory) => memory = Some(export.index),
                            _ => {}
                        }
                    }
                }
                Payload::DataSection(data) => {
                    shape.data_segments = data.count();
                    shape.has_data_section = true;
                }
                _ => {}
            }
        }
        if let (Some(realloc), Some(invoke), Some(memory)) = (realloc, invoke, memory) {
            shape.linked = Some(Linked { realloc, invoke, memory });
        }
        Ok(shape)
    }
}

const TYPE: u8 = 1;
const FUNCTION: u8 = 3;
const EXPORT: u8 = 7;
const CODE: u8 = 10;
const DATA: u8 = 11;
const DATA_COUNT: u8 = 12;

/// A vector section's `content` (its entry count, then its entries) with `entry` added at the end.
fn appended(content: &[u8], entry: &[u8]) -> Result<Vec<u8>, EmitError> {
    let mut reader = BinaryReader::new(content, 0);
    let count = reader.read_var_u32().map_err(malformed)?;
    let mut section = leb(count + 1);
    section.extend_from_slice(&content[reader.original_position()..]);
    section.extend_from_slice(entry);
    Ok(section)
}

/// An export entry naming function `index`.
fn export_entry(name: &str, index: u32) -> Vec<u8> {
    let mut entry = Vec::new();
    name.encode(&mut entry);
    entry.push(0); // a function
    index.encode(&mut entry);
    entry
}

fn leb(value: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    value.encode(&mut bytes);
    bytes
}

fn bytecode_len(bytecode: &[u8]) -> Result<i32, EmitError> {
    i32::try_from(bytecode.len())
        .map_err(|_| EmitError::Rejected(format!("the bytecode is {} bytes, more than a module holds", bytecode.len())))
}

fn malformed(error: wasmparser::BinaryReaderError) -> EmitError {
    EmitError::Guest(format!("reading the guest module: {error}"))
}

/// The pre-initialised guest, made once per process (Wizer takes about a second).
fn pre_initialised() -> Result<&'static [u8], EmitError> {
    static GUEST: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    GUEST
        .get_or_init(|| crate::pre_initialised_guest().map_err(|error| format!("{error:#}")))
        .as_deref()
        .map_err(|error| EmitError::Guest(error.clone()))
}

/// The engine that counts fuel and the guest compiled for it, once per process (about a second).
fn compiler() -> Result<&'static (Engine, Module), EmitError> {
    static COMPILER: OnceLock<Result<(Engine, Module), String>> = OnceLock::new();
    COMPILER
        .get_or_init(|| {
            let guest = pre_initialised().map_err(|error| error.to_string())?;
            let engine = Engine::new(Config::new().consume_fuel(true)).map_err(|error| format!("{error:#}"))?;
            let module = Module::new(&engine, guest).map_err(|error| format!("{error:#}"))?;
            Ok((engine, module))
        })
        .as_ref()
        .map_err(|error| EmitError::Guest(error.clone()))
}

#[cfg(test)]
mod tests {
    use wasmparser::Validator;

    use super::*;

    fn exports(module: &[u8]) -> Vec<String> {
        let parsed = Parser::new(0).parse_all(module).map(Result::unwrap);
        parsed
            .filter_map(|payload| match payload {
                Payload::ExportSection(exports) => Some(exports.into_iter().map(|e| e.unwrap().name.to_string())),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn a_dynamically_linked_module_imports_the_guest_and_starts_it() {
        let module = dynamically_linked(b"\x02bytecode").unwrap();
        Validator::new().validate_all(&module).expect("the module is valid");
        let imports: Vec<(String, String)> = Parser::new(0)
            .parse_all(&module)
            .filter_map(|payload| match payload.unwrap() {
                Payload::ImportSection(imports) => Some(imports.into_imports()),
                _ => None,
            })
            .flatten()
            .map(|import| import.unwrap())
            .map(|import| (import.module.to_string(), import.name.to_string()))
            .collect();
        let expected = ["cabi_realloc", "invoke", "memory"].map(|name| (ABI.to_string(), name.to_string()));
        assert_eq!(imports, expected);
        assert_eq!(exports(&module), ["_start"]);
        // The bytecode is carried as it is.
        assert!(module.windows(9).any(|window| window == b"\x02bytecode"));
    }

    #[test]
    fn a_statically_linked_module_is_the_guest_with_a_start() {
        let module = statically_linked(b"\x02bytecode").unwrap();
        Validator::new().validate_all(&module).expect("the module is valid");
        let guest = exports(pre_initialised().unwrap());
        let mut expected = guest.clone();
        expected.push("_start".into());
        assert_eq!(exports(&module), expected);
        let segments = |module: &[u8]| Shape::of(module).unwrap().data_segments;
        assert_eq!(segments(&module), segments(pre_initialised().unwrap()) + 1);
    }

    #[test]
    fn what_quickjs_cannot_compile_is_refused_and_compiling_goes_on() {
        match bytecode("export function f(input) {\n  return input +;\n}") {
            Err(EmitError::Rejected(message)) => {
                assert!(message.contains("unexpected token") && message.contains("at plugin.js:2:17"), "{message}")
            }
            other => panic!("expected QuickJS's syntax error, got {other:?}"),
        }
        // Nesting deeper than the compiler's stack is an error of the source, not the end of the host.
        let deep = format!("export const f = () => {}1{};", "(".repeat(100_000), ")".repeat(100_000));
        assert!(matches!(bytecode(&deep), Err(EmitError::Rejected(_))));
        let compiled = bytecode("export const f = () => 1;").expect("a valid module compiles");
        assert!(!compiled.is_empty());
    }
}
