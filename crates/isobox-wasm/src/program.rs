//! One program in one fresh sandbox: `isobox-run` (`wit/guest.wit`) compiles it as the body of an async function and
//! runs it.

use std::time::Instant;

use isobox_capabilities::backend::HostCalls;
use isobox_core::backend::{RunReport, micros_since};
use isobox_core::{Request, SandboxError};
use serde_json::Value;
use wasmtime::{Extern, Instance, Memory, Store};

use crate::cpu::{self, Spender};
use crate::pool::{GuestExports, Pool};
use crate::sandbox::{self, Reported, SandboxState};
use crate::trap;

/// Runs `request` in a fresh store and instance of `pool`'s guest, with its granted capabilities, until `deadline`.
pub(crate) async fn run(pool: &Pool, request: &Request, host_calls: HostCalls, deadline: Instant) -> RunReport {
    let limits = &request.options.limits;
    let started = Instant::now();
    let manifest = host_calls.manifest_without_names();
    let mut store = sandbox::new_store(&pool.engine, limits, host_calls, pool.fuel);
    store.data_mut().deadline = deadline;

    let instance = pool.guest.instantiate_async(&mut store).await;
    let start_us = micros_since(started);
    let running = Instant::now();
    let (result, memory) = match instance {
        Ok(instance) => {
            let memory = instance.get_module_export(&mut store, &pool.exports.memory).and_then(Extern::into_memory);
            if let Some(memory) = memory {
                pool.fault_around.turn_off(&store, memory);
            }
            (call_guest(&mut store, instance, &pool.exports, memory, request, &manifest).await, memory)
        }
        Err(error) => (Err(trap::classify(&error, limits)), None),
    };
    let run_us = micros_since(running);

    let memory_bytes = memory.map_or(0, |memory| memory.data_size(&store) as u64);
    if let Some(memory) = memory {
        sandbox::forget_writes_if_large(&store, memory);
    }
    let fuel_used = sandbox::fuel_used(&store, limits);
    let state = store.into_data();
    RunReport { result, logs: state.logs, start_us, run_us, memory_bytes, fuel_used, output_bytes: state.output.used() }
}

async fn call_guest(
    store: &mut Store<SandboxState>,
    instance: Instance,
    exports: &GuestExports,
    memory: Option<Memory>,
    request: &Request,
    manifest: &str,
) -> Result<Value, SandboxError> {
    let limits = &request.options.limits;
    let meter = store.data().cpu.clone();
    let reported = cpu::metered(meter, Spender::Program, async {
        let memory = memory.ok_or_else(|| wasmtime::format_err!("the guest exports no memory"))?;
        store.data_mut().memory = Some(memory);
        let mut func = |export| {
            instance
                .get_module_export(&mut *store, export)
                .and_then(Extern::into_func)
                .ok_or_else(|| wasmtime::format_err!("the guest's export is not a function"))
        };
        let (realloc, run) = (func(&exports.realloc)?, func(&exports.run)?);
        let realloc = realloc.typed::<(u32, u32, u32, u32), u32>(&*store)?;
        let run = run.typed::<(u32, u32, u32, u32, u32, u32, u32), u32>(&*store)?;

        let input = match &request.input {
            Some(input) => serde_json::to_string(input)?,
            None => String::new(),
        };
        let mut args = [(0, 0); 3];
        for (arg, text) in args.iter_mut().zip([request.code.as_str(), &input, manifest]) {
            *arg = (sandbox::write_bytes(store, &realloc, memory, text.as_bytes()).await?, text.len() as u32);
        }
        let [(code_ptr, code_len), (input_ptr, input_len), (manifest_ptr, manifest_len)] = args;
        let args = (code_ptr, code_len, input_ptr, input_len, manifest_ptr, manifest_len, limits.stack_bytes);
        // The result stays in guest memory until the instance is dropped: the host reads it once and never calls the
        // guest's `cabi_post_isobox-run` (which would only free it).
        let area = run.call_async(&mut *store, args).await?;
        Ok::<_, wasmtime::Error>((memory, Reported::read(store, memory, area)?))
    })
    .await;
    let (memory, reported) = reported.map_err(|error| trap::classify(&error, limits))?;
    reported.result(store, memory, limits)
}
