//! One request in one fresh sandbox: the store's state, the host's imports, and the call into the guest.

use std::time::Instant;

use isobox_capabilities::{CallOutcome, HostCalls};
use isobox_core::{Level, Limits, LogLine, Request, SandboxError};
use serde::Deserialize;
use serde_json::Value;
use wasmtime::{Caller, InstancePre, Linker, Memory, ResourceLimiter, Result, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::trap::{self, Aborted, LimitHit};

/// Everything a sandbox owns besides its instance. It dies with the request.
pub(crate) struct SandboxState {
    /// WASI with nothing granted: no files, sockets, environment or arguments; stdout and stderr are discarded.
    wasi: WasiP1Ctx,
    memory_limit: u64,
    deadline: Instant,
    output_used: u64,
    output_limit: u64,
    logs: Vec<LogLine>,
    host_calls: HostCalls,
    /// The reply to the last host call, until the guest takes it.
    reply: Vec<u8>,
}

impl ResourceLimiter for SandboxState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        if desired as u64 > self.memory_limit {
            // Trapping, rather than failing the grow, ends the program as V8's heap limit does: it cannot catch it.
            return Err(LimitHit::Memory.into());
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Adds the guest's imports: WASI preview 1 (with the empty context above) and isobox's own.
pub(crate) fn add_imports(linker: &mut Linker<SandboxState>) -> Result<()> {
    wasmtime_wasi::p1::add_to_linker_async(linker, |state| &mut state.wasi)?;
    linker.func_wrap("isobox", "log", console_line)?;
    linker.func_wrap_async("isobox", "call", |caller, (capability, function, ptr, len)| {
        Box::new(capability_call(caller, capability, function, ptr, len))
    })?;
    linker.func_wrap("isobox", "take", take_reply)?;
    Ok(())
}

/// `isobox.call(capability, function, ptr, len)`: one capability call, awaited on the host while the sandbox waits.
async fn capability_call(
    mut caller: Caller<'_, SandboxState>,
    capability: u32,
    function: u32,
    ptr: u32,
    len: u32,
) -> Result<u64> {
    let memory = guest_memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let args = guest_slice(data, ptr, len)?;
    let outcome = match state.host_calls.begin(capability, function, args) {
        Ok(pending) => {
            // The host function may wait on I/O: the request's deadline still holds.
            let deadline = tokio::time::Instant::from_std(state.deadline);
            match tokio::time::timeout_at(deadline, pending.finish()).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(LimitHit::Deadline.into()),
            }
        }
        Err(outcome) => outcome,
    };
    let state = caller.data_mut();
    let status = match outcome {
        CallOutcome::Return(text) => {
            state.reply = text.into_bytes();
            0
        }
        CallOutcome::Throw(text) => {
            state.reply = text.into_bytes();
            1
        }
        CallOutcome::Abort(error) => return Err(Aborted(error).into()),
    };
    Ok(status << 32 | state.reply.len() as u64)
}

/// `isobox.take(ptr)`: copies the last host call's reply to `ptr`.
fn take_reply(mut caller: Caller<'_, SandboxState>, ptr: u32) -> Result<()> {
    let memory = guest_memory(&mut caller)?;
    let reply = std::mem::take(&mut caller.data_mut().reply);
    memory.write(&mut caller, ptr as usize, &reply)?;
    Ok(())
}

/// `isobox.log(level, ptr, len)`: one console line, counted against the output limit.
fn console_line(mut caller: Caller<'_, SandboxState>, level: u32, ptr: u32, len: u32) -> Result<()> {
    let memory = guest_memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    if state.output_used + u64::from(len) > state.output_limit {
        return Err(LimitHit::Output.into());
    }
    let bytes = guest_slice(data, ptr, len)?;
    state.output_used += u64::from(len);
    let level = match level {
        1 => Level::Info,
        2 => Level::Warn,
        3 => Level::Error,
        4 => Level::Debug,
        _ => Level::Log,
    };
    state.logs.push(LogLine { level, message: String::from_utf8_lossy(bytes).into_owned() });
    Ok(())
}

fn guest_memory(caller: &mut Caller<'_, SandboxState>) -> Result<Memory> {
    caller
        .get_export("memory")
        .and_then(|export| export.into_memory())
        .ok_or_else(|| wasmtime::format_err!("the guest exports no memory"))
}

/// A range of guest memory, checked: every pointer and length from the guest is untrusted.
fn guest_slice(data: &[u8], ptr: u32, len: u32) -> Result<&[u8]> {
    let start = ptr as usize;
    data.get(start..start.saturating_add(len as usize))
        .ok_or_else(|| wasmtime::format_err!("the guest passed an out-of-bounds range {ptr}+{len}"))
}

/// What one sandboxed run produced.
pub(crate) struct Run {
    pub result: Result<Value, SandboxError>,
    pub logs: Vec<LogLine>,
    pub start_us: u64,
    pub run_us: u64,
    pub memory_bytes: u64,
    pub fuel_used: Option<u64>,
    pub output_bytes: u64,
}

/// Status words the guest writes to its return area.
const STATUS_OK: u32 = 0;

/// Runs `request` in a fresh store and instance created from `pre`, with its granted capabilities.
pub(crate) async fn run(pre: &InstancePre<SandboxState>, request: &Request, host_calls: HostCalls) -> Run {
    let limits = &request.limits;
    let started = Instant::now();
    let manifest = host_calls.manifest();
    let state = SandboxState {
        wasi: WasiCtxBuilder::new().build_p1(),
        memory_limit: limits.memory_bytes,
        deadline: started + limits.timeout,
        output_used: 0,
        output_limit: limits.output_bytes,
        logs: Vec::new(),
        reply: Vec::new(),
        host_calls,
    };
    let mut store = Store::new(pre.module().engine(), state);
    store.limiter(|state| state);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|store| {
        if Instant::now() >= store.data().deadline {
            Err(LimitHit::Deadline.into())
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    let fuel = limits.fuel.unwrap_or(u64::MAX);
    store.set_fuel(fuel).expect("fuel is enabled on the engine");

    let instance = pre.instantiate_async(&mut store).await;
    let start_us = micros(started);
    let running = Instant::now();
    let (result, memory) = match instance {
        Ok(instance) => {
            let memory = instance.get_memory(&mut store, "memory");
            (call_guest(&mut store, instance, request, &manifest).await, memory)
        }
        Err(error) => (Err(trap::classify(&error, limits)), None),
    };
    let run_us = micros(running);

    let memory_bytes = memory.map_or(0, |memory| memory.data_size(&store) as u64);
    let fuel_used = limits.fuel.map(|budget| budget - store.get_fuel().unwrap_or(0));
    let state = store.into_data();
    Run { result, logs: state.logs, start_us, run_us, memory_bytes, fuel_used, output_bytes: state.output_used }
}

async fn call_guest(
    store: &mut Store<SandboxState>,
    instance: wasmtime::Instance,
    request: &Request,
    manifest: &str,
) -> Result<Value, SandboxError> {
    let limits = &request.limits;
    let outcome = async {
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| wasmtime::format_err!("the guest exports no memory"))?;
        let realloc = instance.get_typed_func::<(u32, u32, u32, u32), u32>(&mut *store, "cabi_realloc")?;
        let run = instance.get_typed_func::<(u32, u32, u32, u32, u32, u32, u32), u32>(&mut *store, "isobox-run")?;

        // The program, its input and the capability manifest go into one guest allocation, back to back.
        let input = match &request.input {
            Some(input) => serde_json::to_string(input)?,
            None => String::new(),
        };
        let parts = [request.code.as_bytes(), input.as_bytes(), manifest.as_bytes()];
        let [code_len, input_len, manifest_len] =
            [parts[0].len(), parts[1].len(), parts[2].len()].map(|len| len as u64);
        let total = u32::try_from(code_len + input_len + manifest_len)?;
        let code_ptr = realloc.call_async(&mut *store, (0, 0, 1, total.max(1))).await?;
        let mut at = code_ptr as usize;
        for part in parts {
            memory.write(&mut *store, at, part)?;
            at += part.len();
        }
        let (code_len, input_len, manifest_len) = (code_len as u32, input_len as u32, manifest_len as u32);
        let (input_ptr, manifest_ptr) = (code_ptr + code_len, code_ptr + code_len + input_len);
        let args = (code_ptr, code_len, input_ptr, input_len, manifest_ptr, manifest_len, limits.stack_bytes);
        let area = run.call_async(&mut *store, args).await?;
        let mut words = [0u8; 12];
        memory.read(&*store, area as usize, &mut words)?;
        let word = |i: usize| u32::from_le_bytes(words[i * 4..i * 4 + 4].try_into().unwrap());
        let (status, ptr, len) = (word(0), word(1), word(2));
        Ok::<_, wasmtime::Error>((memory, status, ptr, len))
    }
    .await;
    let (memory, status, ptr, len) = outcome.map_err(|error| trap::classify(&error, limits))?;

    let state = store.data();
    if state.output_used + u64::from(len) > state.output_limit {
        return Err(SandboxError::output_limit(limits));
    }
    let payload =
        guest_slice(memory.data(&*store), ptr, len).map_err(|error| SandboxError::internal(error.to_string()))?;
    let parsed: Result<Value, _> = if status == STATUS_OK {
        serde_json::from_slice(payload)
    } else {
        return Err(guest_error(payload, limits));
    };
    store.data_mut().output_used += u64::from(len);
    parsed.map_err(|error| SandboxError::internal(format!("the guest returned malformed JSON: {error}")))
}

/// An error the guest reported as data.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum GuestError {
    Syntax { message: String, line: u32, column: u32 },
    Exception { name: String, message: String, stack: Option<String> },
    StackOverflow,
    Memory,
    Internal { message: String },
}

fn guest_error(payload: &[u8], limits: &Limits) -> SandboxError {
    match serde_json::from_slice::<GuestError>(payload) {
        Ok(GuestError::Syntax { message, line, column }) => SandboxError::Syntax { message, line, column },
        Ok(GuestError::Exception { name, message, stack }) => SandboxError::Exception { name, message, stack },
        Ok(GuestError::StackOverflow) => SandboxError::stack_overflow(),
        Ok(GuestError::Memory) => SandboxError::memory_limit(limits),
        Ok(GuestError::Internal { message }) => SandboxError::internal(message),
        Err(error) => SandboxError::internal(format!("the guest reported a malformed error: {error}")),
    }
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}
