//! The guest module: embedded as built, pre-initialised with Wizer, compiled once and cached on disk.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Instant;

use isobox_core::StartError;
use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, Instance, Linker, Module, Result, Store, Val, error::Context as _};

use crate::imports::HOST_MODULE;
use crate::wasi::WasiState;

/// The guest as built by `scripts/build-guest.sh`, before pre-initialisation.
pub(crate) const RAW_GUEST: &[u8] = include_bytes!(env!("ISOBOX_GUEST_WASM"));

/// The guest's identity, `sha256:` and the digest of the raw guest: plugins compiled against it record it, and only a
/// host running the very same guest loads them (QuickJS bytecode is only valid for the QuickJS that wrote it).
pub fn guest_id() -> &'static str {
    static ID: LazyLock<String> = LazyLock::new(|| {
        let digest = Sha256::digest(RAW_GUEST);
        format!("sha256:{}", digest.iter().map(|byte| format!("{byte:02x}")).collect::<String>())
    });
    &ID
}

/// Where the guest's stack begins: in LLVM's wasm32 layout the stack comes first in memory and grows down from the
/// initial value of the module's first global (`__stack_pointer`) towards address 0. `None` if the guest had no
/// such global.
pub(crate) fn stack_top() -> Option<usize> {
    static TOP: LazyLock<Option<usize>> = LazyLock::new(|| {
        use wasmparser::{Operator, Parser, Payload};
        let globals = Parser::new(0).parse_all(RAW_GUEST).find_map(|payload| match payload {
            Ok(Payload::GlobalSection(globals)) => Some(globals),
            _ => None,
        })?;
        let first = globals.into_iter().next()?.ok()?;
        match first.init_expr.get_operators_reader().read().ok()? {
            Operator::I32Const { value } if first.ty.mutable => usize::try_from(value).ok(),
            _ => None,
        }
    });
    *TOP
}

/// Changes whenever the way isobox turns the raw guest into a cached artifact changes.
const ARTIFACT_FORMAT: &str = "isobox-guest-artifact-1";

/// The guest's pre-initialisation function (Javy's plugin convention).
const INIT_FUNC: &str = "initialize-runtime";

/// Loads the compiled guest for `engine`: from the cache when a matching artifact is there, otherwise by
/// pre-initialising and compiling the raw guest (and caching the result).
pub(crate) fn load(engine: &Engine, cache_dir: Option<&Path>) -> Result<Module> {
    let Some(cache_dir) = cache_dir else {
        return Module::new(engine, pre_initialised_guest()?);
    };
    // The cache holds native code: it is used only when this user alone can write to it.
    if let Err(error) = isobox_core::private_dir::ensure(cache_dir) {
        tracing::warn!(%error, "not caching the compiled guest: its directory is not private");
        return Module::new(engine, pre_initialised_guest()?);
    }
    let path = artifact_path(engine, cache_dir);
    match isobox_core::private_dir::check(&path, false) {
        Ok(()) => {
            // SAFETY: the artifact is this user's own, in a directory only this user can write to, written by this
            // function (see `WasmConfig::cache_dir`); its name pins the guest, wasmtime and engine settings.
            match unsafe { Module::deserialize_file(engine, &path) } {
                Ok(module) => return Ok(module),
                Err(error) => tracing::warn!(path = %path.display(), %error, "ignoring an unusable cached guest"),
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(%error, "ignoring a cached guest that is not this user's own"),
    }
    let module = Module::new(engine, pre_initialised_guest()?)?;
    if let Err(error) = store_artifact(&module, &path) {
        tracing::warn!(path = %path.display(), %error, "could not cache the compiled guest");
    }
    Ok(module)
}

fn artifact_path(engine: &Engine, cache_dir: &Path) -> PathBuf {
    struct DigestHasher(Sha256);
    impl Hasher for DigestHasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            unreachable!("only the digest is read")
        }
    }
    let mut hasher = DigestHasher(Sha256::new());
    ARTIFACT_FORMAT.hash(&mut hasher);
    RAW_GUEST.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    let name: String = digest[..16].iter().map(|byte| format!("{byte:02x}")).collect();
    cache_dir.join(format!("guest-{name}.cwasm"))
}

fn store_artifact(module: &Module, path: &Path) -> Result<()> {
    let dir = path.parent().expect("artifact paths have a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Written aside and renamed, so that concurrent processes never load a half-written artifact.
    let partial = dir.join(format!(".{}.{}.partial", std::process::id(), path.file_name().unwrap().display()));
    std::fs::write(&partial, module.serialize()?).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// The guest with its QuickJS runtime, context and isobox prelude pre-initialised (a Wizer snapshot): a valid Javy
/// plugin, and the module every sandbox is instantiated from.
///
/// # Errors
/// Running the guest's initialisation failed (wasmtime could not compile or run it here, or a thread did not start).
pub fn pre_initialised_guest() -> Result<Vec<u8>, StartError> {
    // Wizer drives wasmtime asynchronously; a thread of its own keeps this usable from inside or outside tokio.
    let wizened = std::thread::Builder::new()
        .name("isobox-wizer".into())
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build()?;
            runtime.block_on(wizen(RAW_GUEST))
        })
        .map_err(|error| StartError::because("pre-initialising the guest", error))?
        .join()
        .map_err(|_| StartError::new("pre-initialising the guest panicked"))?;
    wizened.map_err(|error| StartError::because("pre-initialising the guest", error))
}

async fn wizen(raw: &[u8]) -> Result<Vec<u8>> {
    struct InitState {
        created: Instant,
    }
    impl WasiState for InitState {
        fn monotonic_origin(&self) -> Instant {
            self.created
        }
    }
    let engine = Engine::new(&Config::new())?;
    let mut linker = Linker::<InitState>::new(&engine);
    crate::wasi::add_to_linker(&mut linker)?;
    // The warm-up program's console line is dropped; nothing calls a capability while the runtime initialises.
    linker.func_wrap(HOST_MODULE, "log", |_: u32, _: u32, _: u32| {})?;
    linker.func_wrap(HOST_MODULE, "call", |_: u32, _: u32, _: u32, _: u32| -> Result<u64> {
        Err(wasmtime::format_err!("no capability can be called while the guest is pre-initialised"))
    })?;
    linker.func_wrap(HOST_MODULE, "method", |_: u32, _: u32, _: u32| -1i32)?;
    linker.func_wrap(HOST_MODULE, "methods", |_: u32| 0u32)?;
    linker.func_wrap(HOST_MODULE, "take", |_: u32| {})?;
    let mut store = Store::new(&engine, InitState { created: Instant::now() });
    let mut wizer = wasmtime_wizer::Wizer::new();
    // Javy's plugin convention: a pre-initialised plugin keeps exporting its initialisation function.
    wizer.init_func(INIT_FUNC).keep_init_func(true);
    // Wizer's own wasmtime driver (its `wasmtime` feature) would turn on wasmtime features isobox does not use (the
    // module cache, GC, threads), which the sandboxes' engine would then compile in too: this drives the same steps.
    let (context, instrumented) = wizer.instrument(raw)?;
    let module = Module::new(&engine, &instrumented).context("compiling the instrumented guest")?;
    let instance = linker.instantiate_async(&mut store, &module).await?;
    // A WASI reactor's own initialisation (the C library's constructors) runs first, as Wizer does.
    if let Some(initialize) = instance.get_func(&mut store, "_initialize") {
        initialize
            .typed::<(), ()>(&store)?
            .call_async(&mut store, ())
            .await
            .context("the guest's `_initialize` trapped")?;
    }
    instance
        .get_typed_func::<(), ()>(&mut store, INIT_FUNC)?
        .call_async(&mut store, ())
        .await
        .with_context(|| format!("the guest's `{INIT_FUNC}` trapped"))?;
    let mut state = Snapshotted { store: &mut store, instance, unusable: None };
    let snapshot = wizer.snapshot(context, &mut state).await.context("snapshotting the guest")?;
    match state.unusable {
        Some(name) => Err(wasmtime::format_err!("the instrumented guest has no usable export `{name}` to snapshot")),
        None => Ok(snapshot),
    }
}

/// The state Wizer snapshots: the instrumented guest's instance after its initialisation function ran.
struct Snapshotted<'a, T: 'static> {
    store: &'a mut Store<T>,
    instance: Instance,
    /// An export Wizer asked for that the instance lacks, or a global of a type a snapshot cannot hold (Wizer's
    /// instrumentation adds the exports it asks for, so never in practice).
    unusable: Option<String>,
}

impl<T: Send> wasmtime_wizer::InstanceState for Snapshotted<'_, T> {
    async fn global_get(&mut self, name: &str, _: wasmparser::ValType) -> wasmtime_wizer::SnapshotVal {
        use wasmtime_wizer::SnapshotVal;
        let value = self.instance.get_global(&mut *self.store, name).map(|global| global.get(&mut *self.store));
        match value {
            Some(Val::I32(value)) => SnapshotVal::I32(value),
            Some(Val::I64(value)) => SnapshotVal::I64(value),
            Some(Val::F32(value)) => SnapshotVal::F32(value),
            Some(Val::F64(value)) => SnapshotVal::F64(value),
            Some(Val::V128(value)) => SnapshotVal::V128(value.as_u128()),
            _ => {
                self.unusable.get_or_insert_with(|| name.to_owned());
                SnapshotVal::I32(0)
            }
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(memory) => contents(memory.data(&*self.store)),
            None => {
                self.unusable.get_or_insert_with(|| name.to_owned());
                contents(&[]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::WasmConfig;
    use crate::pool::{Fuel, Pool};
    use crate::sandbox::tests::sandbox;

    /// Pre-initialisation leaves the guest's allocator no free chunk but its top: a fresh sandbox's small allocations
    /// follow one another in one region, rather than filling chunks left free across the snapshot's pages (each page
    /// a request writes is copied for it and copied back when it ends).
    #[tokio::test]
    async fn a_fresh_sandbox_allocates_from_one_region() {
        let pool = Pool::new(&WasmConfig::default(), 1, Fuel::Uncounted, None).expect("the guest loads");
        let (mut store, _, instance) = sandbox(&pool).await;
        let realloc = instance.get_typed_func::<(u32, u32, u32, u32), u32>(&mut store, "cabi_realloc").unwrap();
        let mut addresses = Vec::new();
        for _ in 0..500 {
            addresses.push(realloc.call_async(&mut store, (0, 0, 8, 8)).await.unwrap());
        }
        let strides: Vec<i64> = addresses.windows(2).map(|pair| i64::from(pair[1]) - i64::from(pair[0])).collect();
        assert!(strides.iter().all(|&stride| stride == strides[0] && stride > 0), "{addresses:?}");
    }
}
