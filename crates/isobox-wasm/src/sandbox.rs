//! One sandbox: a fresh store with its limits, the state it owns, and how outcomes come back out of the guest.
//! Programs (`program.rs`) and plugins (`plugin/`) both run in one.

use std::sync::Arc;
use std::time::Instant;

use isobox_capabilities::backend::HostCalls;
use isobox_core::output::{OutputBudget, decode_result};
use isobox_core::{Limits, LogLine, SandboxError};
use serde_json::Value;
use wasmtime::{AsContextMut, Engine, Memory, ResourceLimiter, Result, Store, TypedFunc, UpdateDeadline};

use crate::cpu::CpuMeter;
use crate::imports::guest_slice;
use crate::pool::Fuel;
use crate::trap::LimitHit;
use crate::wasi::WasiState;

/// Everything a sandbox owns besides its instances. It dies with the sandbox.
pub(crate) struct SandboxState {
    /// When the sandbox was made: where its WASI monotonic clock starts.
    pub created: Instant,
    pub memory_limit: u64,
    pub deadline: Instant,
    /// The CPU time used against [`Limits::cpu_time`], when the request sets one.
    pub cpu: Option<Arc<CpuMeter>>,
    /// What the program, or the plugin call, may still write.
    pub output: OutputBudget,
    pub logs: Vec<LogLine>,
    pub host_calls: HostCalls,
    /// The reply to the last host call, until the guest takes it.
    pub reply: Vec<u8>,
    /// The guest's memory, once it is instantiated: host calls find it here rather than by its export's name.
    pub memory: Option<Memory>,
    /// Whether the engine counts fuel (asking the store would build an error, and capture a backtrace, on one that
    /// does not).
    pub fuel: Fuel,
}

impl WasiState for SandboxState {
    fn monotonic_origin(&self) -> Instant {
        self.created
    }
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

/// A fresh store bounded by `limits`, whose guest may call the capabilities in `host_calls`, on an engine that counts
/// `fuel` or not.
pub(crate) fn new_store(engine: &Engine, limits: &Limits, host_calls: HostCalls, fuel: Fuel) -> Store<SandboxState> {
    let now = Instant::now();
    let state = SandboxState {
        created: now,
        memory_limit: limits.memory_bytes,
        deadline: now,
        cpu: limits.cpu_time.map(|budget| Arc::new(CpuMeter::new(budget))),
        output: OutputBudget::new(limits),
        logs: Vec::new(),
        reply: Vec::new(),
        memory: None,
        host_calls,
        fuel,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| state);
    store.epoch_deadline_callback(|store| {
        let state = store.data();
        if Instant::now() >= state.deadline {
            Err(LimitHit::Deadline.into())
        } else if state.cpu.as_ref().is_some_and(|cpu| cpu.exceeded()) {
            Err(LimitHit::CpuTime.into())
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    arm(&mut store, limits);
    store
}

/// Gives the sandbox a new deadline, fuel and output budget, as every request or call starts with.
pub(crate) fn arm(store: &mut Store<SandboxState>, limits: &Limits) {
    store.set_epoch_deadline(1);
    // Only an engine that counts fuel has any to set (and runs out at once without it).
    if store.data().fuel == Fuel::Counted {
        store.set_fuel(limits.fuel.unwrap_or(u64::MAX)).expect("the engine counts fuel");
    }
    let state = store.data_mut();
    state.deadline = Instant::now() + limits.timeout;
    if let Some(cpu) = &state.cpu {
        cpu.reset();
    }
    state.output = OutputBudget::new(limits);
}

/// The guest instructions used since [`arm`], when the limits set a fuel budget.
pub(crate) fn fuel_used(store: &Store<SandboxState>, limits: &Limits) -> Option<u64> {
    limits.fuel.map(|budget| budget - store.get_fuel().unwrap_or(0))
}

/// Copies `bytes` into a new guest allocation, as the canonical ABI passes a string or list argument (the guest owns
/// and frees it); returns its address.
pub(crate) async fn write_bytes(
    store: &mut Store<SandboxState>,
    realloc: &TypedFunc<(u32, u32, u32, u32), u32>,
    memory: Memory,
    bytes: &[u8],
) -> Result<u32> {
    if bytes.is_empty() {
        // An empty list may be at any aligned address: the guest neither reads nor frees it, and the call into the
        // guest's allocator is saved (a program without input, a request without grants).
        return Ok(1);
    }
    let len = u32::try_from(bytes.len())?;
    let ptr = realloc.call_async(store.as_context_mut(), (0, 0, 1, len)).await?;
    memory.write(&mut *store, ptr as usize, bytes)?;
    Ok(ptr)
}

/// An outcome as the guest returns it, a `result<string, string>` (or `result<_, string>`) by the canonical ABI: at
/// `area`, the discriminant byte (0 ok, 1 error), then at 4 and 8 the payload's pointer and length.
pub(crate) struct Reported {
    pub ok: bool,
    ptr: u32,
    len: u32,
}

/// The discriminant of `ok`; anything else is an error described by the payload.
const RESULT_OK: u8 = 0;

impl Reported {
    pub fn read<T: 'static>(store: &Store<T>, memory: Memory, area: u32) -> Result<Self> {
        let mut words = [0u8; 12];
        memory.read(store, area as usize, &mut words)?;
        let word = |i: usize| u32::from_le_bytes(words[i * 4..i * 4 + 4].try_into().unwrap());
        Ok(Self { ok: words[0] == RESULT_OK, ptr: word(1), len: word(2) })
    }

    /// The reported error, if any, without reading a successful payload (a step that returns nothing). An error's
    /// description leaves the sandbox as a result does, so it is counted against the output limit too.
    pub fn check(&self, store: &mut Store<SandboxState>, memory: Memory, limits: &Limits) -> Result<(), SandboxError> {
        if self.ok {
            return Ok(());
        }
        self.spend(store, limits)?;
        let payload = self.payload(memory.data(&*store)).map_err(|error| SandboxError::internal(error.to_string()))?;
        Err(SandboxError::from_prelude(payload, limits))
    }

    /// The result: the JSON value, counted against the output limit, or the reported error.
    pub fn result(
        &self,
        store: &mut Store<SandboxState>,
        memory: Memory,
        limits: &Limits,
    ) -> Result<Value, SandboxError> {
        self.check(store, memory, limits)?;
        self.spend(store, limits)?;
        let payload = self.payload(memory.data(&*store)).map_err(|error| SandboxError::internal(error.to_string()))?;
        decode_result(payload)
    }

    /// The payload (the value's or the error's text) in the guest's memory `data`, checked to lie within it.
    pub fn payload<'a>(&self, data: &'a [u8]) -> Result<&'a [u8]> {
        guest_slice(data, self.ptr, self.len)
    }

    /// Counts the payload against the output limit.
    fn spend(&self, store: &mut Store<SandboxState>, limits: &Limits) -> Result<(), SandboxError> {
        match store.data_mut().output.result(u64::from(self.len)) {
            true => Ok(()),
            false => Err(SandboxError::output_limit(limits)),
        }
    }
}

/// How deep below its top a sandbox's stack must have reached for [`forget_writes_if_large`] to give its pages back:
/// half the default JavaScript stack, which a stack overflow at the default limit passes. Giving pages back pays only
/// when a sandbox wrote far more than the next ones will (those fault their pages in again): a recursion a few pages
/// deep is cheaper reset in place.
const DEEP_STACK_BYTES: usize = 256 << 10;

/// Gives the pages of `memory` back to the kernel when its program wrote many of them (it grew the memory, or its
/// stack went deep), so that the pooled slot reads as the guest's image again. Call it once nothing reads the memory
/// any more, before the store is dropped.
///
/// A slot is reset in place for its next sandbox: with `PAGEMAP_SCAN`, every page of it that any earlier sandbox
/// wrote is copied back from the image (or zeroed) after every later one, for as long as the slot lives (the scan
/// cannot tell this sandbox's writes from older ones). A program that grew its memory has usually written much of the
/// image too (QuickJS's garbage collector, which a growing heap sets off, writes every object of the snapshot), and a
/// deep recursion writes its stack's pages: left alone, every later request in the slot would pay for them again
/// (after a stack overflow, about 1.4 times a small request's time). Only such sandboxes are given back: the
/// next sandbox in the slot faults in again the pages it touches, and giving pages back makes the kernel interrupt
/// the process's other cores to flush their TLBs, which a small request's reset in place avoids.
pub fn forget_writes_if_large<T: 'static>(store: &Store<T>, memory: Memory) {
    if !wrote_much(store, memory) {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: the range is the memory's accessible bytes, which no one reads again: its program has ended and the
    // store is only dropped after this. On a private mapping `MADV_DONTNEED` makes the next access read the mapped
    // file (the guest's image) or zeros, the contents the pooling allocator's reset restores anyway.
    unsafe {
        libc::madvise(memory.data_ptr(store).cast(), memory.data_size(store), libc::MADV_DONTNEED);
    }
}

/// Whether the sandbox grew its memory or wrote its stack [`DEEP_STACK_BYTES`] below the top (the stack is zeros in
/// the image, and a frame is rarely all zeros: the page there is checked for any other byte).
fn wrote_much<T: 'static>(store: &Store<T>, memory: Memory) -> bool {
    let ty = memory.ty(store);
    let data = memory.data(store);
    if data.len() as u64 > ty.minimum().saturating_mul(ty.page_size()) {
        return true;
    }
    let Some(probe) = crate::guest::stack_top().and_then(|top| top.checked_sub(DEEP_STACK_BYTES)) else {
        return false;
    };
    // Folded rather than searched: the compiler makes it a few vector instructions per 64 bytes.
    data.get(probe..probe + 4096).is_some_and(|page| page.iter().fold(0, |any, &byte| any | byte) != 0)
}

#[cfg(test)]
pub(crate) mod tests {
    use isobox_core::{Limits, Request};
    use wasmtime::Store;

    use super::{SandboxState, forget_writes_if_large, wrote_much};
    use crate::WasmConfig;
    use crate::pool::{Fuel, Pool};

    /// A fresh sandbox of the guest (no grants, default limits), its memory and its instance.
    pub(crate) async fn sandbox(pool: &Pool) -> (Store<SandboxState>, wasmtime::Memory, wasmtime::Instance) {
        let host_calls = pool.admit(&Request::new("")).unwrap();
        let mut store = super::new_store(&pool.engine, &Limits::default(), host_calls, pool.fuel);
        store.data_mut().deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let instance = pool.guest.instantiate_async(&mut store).await.unwrap();
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        store.data_mut().memory = Some(memory);
        (store, memory, instance)
    }

    /// A sandbox that grew its memory gives every page it wrote back: its memory reads as the guest's image again
    /// (and zeros past it), so that the slot's next reset has nothing of it to copy back. One that did not grow is
    /// left to the reset.
    #[tokio::test]
    async fn a_grown_sandbox_gives_its_written_pages_back() {
        let pool = Pool::new(&WasmConfig::default(), 1, Fuel::Uncounted, None).expect("the guest loads");
        let (mut store, memory, _) = sandbox(&pool).await;
        let initial = memory.data_size(&store);
        // A byte of the image's data (past the 1 MiB stack) that is not 0xAB already.
        let at = (1 << 20..initial).find(|&at| memory.data(&store)[at] != 0xAB).unwrap();
        let original = memory.data(&store)[at];

        memory.data_mut(&mut store)[at] = 0xAB;
        forget_writes_if_large(&store, memory);
        assert_eq!(memory.data(&store)[at], 0xAB, "a sandbox that did not grow keeps its writes until the reset");

        memory.grow(&mut store, 1).unwrap();
        memory.data_mut(&mut store)[initial + 5] = 0xCD;
        forget_writes_if_large(&store, memory);
        assert_eq!(memory.data(&store)[at], original, "the image's byte again");
        assert_eq!(memory.data(&store)[initial + 5], 0, "the grown page reads as zeros");
    }

    /// The guest's stack is found where `wrote_much` looks for it: a deep recursion writes the page it checks, a small
    /// program does not.
    #[tokio::test]
    async fn a_deep_stack_is_told_from_a_shallow_one() {
        let pool = Pool::new(&WasmConfig::default(), 1, Fuel::Uncounted, None).expect("the guest loads");
        let deep = "const f = (n) => (n === 0 ? 0 : 1 + f(n - 1)); return f(1600)";
        for (code, expected) in [("return [1, 2, 3].map((n) => n * 2)", false), (deep, true)] {
            let (mut store, memory, instance) = sandbox(&pool).await;
            let realloc = instance.get_typed_func::<(u32, u32, u32, u32), u32>(&mut store, "cabi_realloc").unwrap();
            let run =
                instance.get_typed_func::<(u32, u32, u32, u32, u32, u32, u32), u32>(&mut store, "isobox-run").unwrap();
            let code_ptr = super::write_bytes(&mut store, &realloc, memory, code.as_bytes()).await.unwrap();
            let args = (code_ptr, code.len() as u32, 1, 0, 1, 0, Limits::default().stack_bytes);
            let area = run.call_async(&mut store, args).await.unwrap();
            assert!(super::Reported::read(&store, memory, area).unwrap().ok, "{code}");
            assert_eq!(wrote_much(&store, memory), expected, "{code}");
        }
    }
}
