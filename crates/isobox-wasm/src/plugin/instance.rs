//! One plugin sandbox: a store where the plugin's module is instantiated and evaluated, and its functions called.

use isobox_capabilities::backend::HostCalls;
use isobox_core::{Limits, LogLine, SandboxError};
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::{Instance as WasmInstance, Memory, Store, TypedFunc};

use super::Code;
use crate::cpu::{self, Spender};
use crate::pool::Pool;
use crate::sandbox::{self, Reported, SandboxState};
use crate::trap;

pub(crate) struct Instance {
    store: Store<SandboxState>,
    limits: Limits,
    /// The guest's capability manifest, installed when the sandbox starts.
    manifest: String,
    linked: Option<Linked>,
    /// Whether the limits armed with the store are still unspent: the first call shares them with starting.
    fresh: bool,
    /// Why the sandbox stopped: a call cut short by the host leaves it in no state to run again.
    pub stopped: Option<SandboxError>,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(linked) = &self.linked {
            sandbox::forget_writes_if_large(&self.store, linked.memory);
        }
    }
}

/// The guest's exports a call uses.
struct Linked {
    memory: Memory,
    realloc: TypedFunc<(u32, u32, u32, u32), u32>,
    call: TypedFunc<(u32, u32, u32, u32, u32), u32>,
    /// Frees what `call` returned: a session's sandbox serves many calls.
    post_call: TypedFunc<u32, ()>,
}

impl Instance {
    /// A sandbox whose start and first call must be done by `deadline`.
    pub fn new(
        pool: &Pool,
        limits: Limits,
        host_calls: HostCalls,
        slot: OwnedSemaphorePermit,
        deadline: std::time::Instant,
    ) -> Self {
        let manifest = host_calls.manifest_without_names();
        let mut store = sandbox::new_store(&pool.engine, &limits, host_calls, pool.fuel);
        store.data_mut().deadline = deadline;
        Self { store, limits, manifest, linked: None, fresh: true, stopped: None, _slot: slot }
    }

    /// Instantiates the plugin, installs its capabilities and evaluates its module. Records why, if it stops.
    pub async fn start(&mut self, pool: &Pool, code: &Code) {
        let limits = self.limits.clone();
        let meter = self.store.data().cpu.clone();
        let started = cpu::metered(meter, Spender::Program, async {
            let (guest, plugin) = self.instantiate(pool, code).await?;
            let store = &mut self.store;
            let memory = guest
                .get_memory(&mut *store, "memory")
                .ok_or_else(|| wasmtime::format_err!("the guest exports no memory"))?;
            pool.fault_around.turn_off(store, memory);
            store.data_mut().memory = Some(memory);
            let realloc = guest.get_typed_func::<(u32, u32, u32, u32), u32>(&mut *store, "cabi_realloc")?;
            let begin = guest.get_typed_func::<(u32, u32, u32), u32>(&mut *store, "isobox-plugin-begin")?;
            let outcome = guest.get_typed_func::<(), u32>(&mut *store, "isobox-outcome")?;
            let call = guest.get_typed_func::<(u32, u32, u32, u32, u32), u32>(&mut *store, "isobox-plugin-call")?;
            let post_call = guest.get_typed_func::<u32, ()>(&mut *store, "cabi_post_isobox-plugin-call")?;
            let main = plugin.get_typed_func::<(), ()>(&mut *store, "_start")?;

            // Each step's outcome is checked before the next. What `isobox-plugin-begin` and `isobox-outcome` return is
            // small and once per sandbox, so their `cabi_post_*` are not called; `isobox-plugin-call`'s is.
            let manifest = sandbox::write_bytes(store, &realloc, memory, self.manifest.as_bytes()).await?;
            let area =
                begin.call_async(&mut *store, (manifest, self.manifest.len() as u32, limits.stack_bytes)).await?;
            if let Err(error) = Reported::read(store, memory, area)?.check(store, memory, &limits) {
                return Ok(Err(error));
            }
            main.call_async(&mut *store, ()).await?;
            let area = outcome.call_async(&mut *store, ()).await?;
            let evaluated = Reported::read(store, memory, area)?.check(store, memory, &limits);
            Ok::<_, wasmtime::Error>(evaluated.map(|()| Linked { memory, realloc, call, post_call }))
        })
        .await;
        let result = match started {
            Ok(Ok(linked)) => {
                self.linked = Some(linked);
                Ok(())
            }
            Ok(Err(error)) => Err(error),
            Err(error) => Err(trap::classify(&error, &limits)),
        };
        self.stopped = result.err();
    }

    /// The guest's instance and the plugin's (the same one when the plugin is statically linked).
    async fn instantiate(&mut self, pool: &Pool, code: &Code) -> wasmtime::Result<(WasmInstance, WasmInstance)> {
        let store = &mut self.store;
        match code {
            Code::Static(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                Ok((instance, instance))
            }
            Code::Dynamic(module) => {
                let guest = pool.guest.instantiate_async(&mut *store).await?;
                // Loading checked that every import is one of the guest's exports.
                let imports = module
                    .imports()
                    .map(|import| {
                        guest
                            .get_export(&mut *store, import.name())
                            .ok_or_else(|| wasmtime::format_err!("the guest does not export `{}`", import.name()))
                    })
                    .collect::<wasmtime::Result<Vec<_>>>()?;
                let plugin = WasmInstance::new_async(&mut *store, module, &imports).await?;
                Ok((guest, plugin))
            }
        }
    }

    /// Calls the plugin's `function` with `input`. The first call's limits also cover starting the sandbox, as a
    /// request's cover compiling its program; each later call gets fresh wall-clock, fuel and output limits.
    pub async fn call(&mut self, function: &str, input: Option<&Value>) -> Result<Value, SandboxError> {
        if let Some(error) = &self.stopped {
            return Err(error.clone());
        }
        let Some(linked) = &self.linked else {
            return Err(SandboxError::internal("the plugin's sandbox did not start"));
        };
        if !std::mem::replace(&mut self.fresh, false) {
            sandbox::arm(&mut self.store, &self.limits);
        }
        let limits = &self.limits;
        let meter = self.store.data().cpu.clone();
        let store = &mut self.store;
        let reported = cpu::metered(meter, Spender::Program, async {
            let input = match input {
                Some(input) => serde_json::to_string(input)?,
                None => String::new(),
            };
            let function_ptr = sandbox::write_bytes(store, &linked.realloc, linked.memory, function.as_bytes()).await?;
            let input_ptr = sandbox::write_bytes(store, &linked.realloc, linked.memory, input.as_bytes()).await?;
            let args = (function_ptr, function.len() as u32, input_ptr, input.len() as u32, limits.stack_bytes);
            let area = linked.call.call_async(&mut *store, args).await?;
            let result = Reported::read(store, linked.memory, area)?.result(store, linked.memory, limits);
            // Read: the guest may free it now.
            linked.post_call.call_async(&mut *store, area).await?;
            Ok::<_, wasmtime::Error>(result)
        })
        .await;
        match reported {
            Ok(result) => result,
            Err(error) => {
                let error = trap::classify(&error, limits);
                self.stopped = Some(error.clone());
                Err(error)
            }
        }
    }

    pub fn take_logs(&mut self) -> Vec<LogLine> {
        std::mem::take(&mut self.store.data_mut().logs)
    }

    pub fn memory_bytes(&self) -> u64 {
        self.linked.as_ref().map_or(0, |linked| linked.memory.data_size(&self.store) as u64)
    }

    pub fn fuel_used(&self) -> Option<u64> {
        sandbox::fuel_used(&self.store, &self.limits)
    }

    pub fn output_bytes(&self) -> u64 {
        self.store.data().output.used()
    }
}
