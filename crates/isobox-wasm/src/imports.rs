//! The host's imports to the guest: WASI preview 1 (granting nothing, `wasi.rs`) and isobox's own `log`, `call`, `method`,
//! `methods` and `take`, the interface `host` of `wit/guest.wit`, implemented by hand on its canonical-ABI core
//! signatures (a test checks them against the WIT).

use isobox_capabilities::backend::CallOutcome;
use isobox_core::{Level, LogLine};
use wasmtime::{Caller, Linker, Memory, Result};

use crate::cpu::{self, Spender};
use crate::sandbox::SandboxState;
use crate::trap::{Aborted, LimitHit};

/// The core import module of isobox's own functions: the interface `host` of `wit/guest.wit`, by the canonical ABI's
/// naming.
pub(crate) const HOST_MODULE: &str = "isobox:guest/host@1.0.0";

/// Adds the guest's imports: WASI preview 1 (granting nothing) and isobox's own.
pub(crate) fn add_imports(linker: &mut Linker<SandboxState>) -> Result<()> {
    crate::wasi::add_to_linker(linker)?;
    linker.func_wrap(HOST_MODULE, "log", console_line)?;
    linker.func_wrap_async(HOST_MODULE, "call", |caller, (capability, function, ptr, len)| {
        Box::new(capability_call(caller, capability, function, ptr, len))
    })?;
    linker.func_wrap(HOST_MODULE, "method", method_index)?;
    linker.func_wrap(HOST_MODULE, "methods", method_names)?;
    linker.func_wrap(HOST_MODULE, "take", take_reply)?;
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
    let memory = sandbox_memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let args = guest_slice(data, ptr, len)?;
    let outcome = match state.host_calls.begin(capability, function, args) {
        Ok(pending) => {
            // The host function may wait on I/O: the request's deadline still holds.
            let deadline = tokio::time::Instant::from_std(state.deadline);
            // Its CPU time is the host's, not the program's.
            let finish = cpu::metered(state.cpu.clone(), Spender::Host, pending.finish());
            match tokio::time::timeout_at(deadline, finish).await {
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

/// `isobox.method(capability, ptr, len)`: the position of a granted capability's function by its name, or -1.
fn method_index(mut caller: Caller<'_, SandboxState>, capability: u32, ptr: u32, len: u32) -> Result<i32> {
    let memory = sandbox_memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let name = guest_slice(data, ptr, len)?;
    Ok(state.host_calls.method_index(capability, name).map_or(-1, |index| index as i32))
}

/// `isobox.methods(capability)`: a granted capability's function names, as the reply `take` fetches.
fn method_names(mut caller: Caller<'_, SandboxState>, capability: u32) -> u32 {
    let state = caller.data_mut();
    state.reply = state.host_calls.method_names(capability).unwrap_or_default().as_bytes().to_vec();
    state.reply.len() as u32
}

/// `isobox.take(ptr)`: copies the last host call's reply to `ptr`.
fn take_reply(mut caller: Caller<'_, SandboxState>, ptr: u32) -> Result<()> {
    let memory = sandbox_memory(&mut caller)?;
    let reply = std::mem::take(&mut caller.data_mut().reply);
    memory.write(&mut caller, ptr as usize, &reply)?;
    Ok(())
}

/// `isobox.log(level, ptr, len)`: one console line, counted against the output limit by the size it takes in the
/// report.
fn console_line(mut caller: Caller<'_, SandboxState>, level: u32, ptr: u32, len: u32) -> Result<()> {
    let memory = sandbox_memory(&mut caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let Some(message) = state.output.line(guest_slice(data, ptr, len)?) else {
        return Err(LimitHit::Output.into());
    };
    state.logs.push(LogLine { level: Level::from_prelude(level), message: message.into_owned() });
    Ok(())
}

/// The sandbox's guest memory: as kept when the guest was instantiated, else found by its export's name.
fn sandbox_memory(caller: &mut Caller<'_, SandboxState>) -> Result<Memory> {
    match caller.data().memory {
        Some(memory) => Ok(memory),
        None => guest_memory(caller),
    }
}

pub(crate) fn guest_memory<T>(caller: &mut Caller<'_, T>) -> Result<Memory> {
    caller
        .get_export("memory")
        .and_then(|export| export.into_memory())
        .ok_or_else(|| wasmtime::format_err!("the guest exports no memory"))
}

/// A range of guest memory, checked: every pointer and length from the guest is untrusted.
pub(crate) fn guest_slice(data: &[u8], ptr: u32, len: u32) -> Result<&[u8]> {
    let start = ptr as usize;
    data.get(start..start.saturating_add(len as usize))
        .ok_or_else(|| wasmtime::format_err!("the guest passed an out-of-bounds range {ptr}+{len}"))
}
