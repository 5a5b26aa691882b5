//! WASI preview 1 as a sandbox sees it, with nothing granted. The guest's C and Rust standard libraries import ten of
//! its functions; isobox answers them itself, with no WASI context to build per store: no environment or arguments,
//! stdin empty, stdout and stderr discarded (a program's console goes through `isobox.log`), no other descriptor;
//! the clocks and random bytes are the host's. Every pointer and length from the guest is checked: a bad one is the
//! errno `fault`, never a trap.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Linker, Result};

use crate::imports::guest_memory;

/// The core import module of WASI preview 1.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// WASI's errno values isobox answers with.
mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const SPIPE: i32 = 70;
}

const STDIN: u32 = 0;
const STDOUT: u32 = 1;
const STDERR: u32 = 2;

/// The rights a standard stream has (`fd_read`, `fd_write`), as wasmtime's WASI reports them.
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;

const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;

/// What the guest's WASI needs of a store's state: where its monotonic clock starts (each store's starts at zero, so a
/// program learns nothing of the host's uptime).
pub(crate) trait WasiState: 'static {
    fn monotonic_origin(&self) -> Instant;
}

/// Adds the WASI functions the guest imports.
pub(crate) fn add_to_linker<T: WasiState>(linker: &mut Linker<T>) -> Result<()> {
    linker.func_wrap(WASI_MODULE, "environ_sizes_get", |mut caller: Caller<'_, T>, count: u32, size: u32| {
        with_memory(&mut caller, |memory| {
            write_all(memory, &[(count, &0u32.to_le_bytes()), (size, &0u32.to_le_bytes())])
        })
    })?;
    linker.func_wrap(WASI_MODULE, "environ_get", |_: u32, _: u32| errno::SUCCESS)?;
    linker.func_wrap(WASI_MODULE, "clock_time_get", clock_time_get::<T>)?;
    linker.func_wrap(WASI_MODULE, "random_get", |mut caller: Caller<'_, T>, buf: u32, len: u32| {
        with_memory(&mut caller, |memory| match slice_mut(memory, buf, len) {
            Some(bytes) => {
                getrandom::getrandom(bytes).map_err(|error| wasmtime::format_err!("no random bytes: {error}"))?;
                Ok(errno::SUCCESS)
            }
            None => Ok(errno::FAULT),
        })
    })?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_write",
        |mut caller: Caller<'_, T>, fd: u32, iovs: u32, count: u32, written: u32| {
            if fd != STDOUT && fd != STDERR {
                return Ok(errno::BADF);
            }
            with_memory(&mut caller, |memory| {
                // Discarded, but counted as written (as a sink does), once every buffer is checked to be in memory.
                let Some(total) = iovec_total(memory, iovs, count) else { return Ok(errno::FAULT) };
                let Ok(total) = u32::try_from(total) else { return Ok(errno::INVAL) };
                write_all(memory, &[(written, &total.to_le_bytes())])
            })
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_read",
        |mut caller: Caller<'_, T>, fd: u32, _iovs: u32, _count: u32, read: u32| {
            if fd != STDIN {
                return Ok(errno::BADF);
            }
            // Stdin is empty: the end of input at once.
            with_memory(&mut caller, |memory| write_all(memory, &[(read, &0u32.to_le_bytes())]))
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_seek",
        |fd: u32, _offset: i64, _whence: u32, _at: u32| {
            if fd <= STDERR { errno::SPIPE } else { errno::BADF }
        },
    )?;
    linker.func_wrap(WASI_MODULE, "fd_close", |fd: u32| if fd <= STDERR { errno::SUCCESS } else { errno::BADF })?;
    linker.func_wrap(WASI_MODULE, "fd_fdstat_get", |mut caller: Caller<'_, T>, fd: u32, stat: u32| {
        let rights = match fd {
            STDIN => RIGHT_FD_READ,
            STDOUT | STDERR => RIGHT_FD_WRITE,
            _ => return Ok(errno::BADF),
        };
        // `fdstat`: filetype (u8, unknown: not a terminal), flags (u16 at 2), rights base and inheriting (u64 at 8, 16).
        let mut bytes = [0u8; 24];
        bytes[8..16].copy_from_slice(&rights.to_le_bytes());
        bytes[16..24].copy_from_slice(&rights.to_le_bytes());
        with_memory(&mut caller, |memory| write_all(memory, &[(stat, &bytes)]))
    })?;
    linker.func_wrap(WASI_MODULE, "proc_exit", |status: u32| -> Result<()> {
        Err(wasmtime::format_err!("the guest exited with status {status}"))
    })?;
    Ok(())
}

fn clock_time_get<T: WasiState>(mut caller: Caller<'_, T>, clock: u32, _precision: u64, time: u32) -> Result<i32> {
    let nanos = match clock {
        CLOCK_REALTIME => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos()),
        CLOCK_MONOTONIC => caller.data().monotonic_origin().elapsed().as_nanos(),
        // The process and thread CPU clocks, as wasmtime's WASI answers.
        _ => return Ok(errno::BADF),
    };
    let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
    with_memory(&mut caller, |memory| write_all(memory, &[(time, &nanos.to_le_bytes())]))
}

/// Runs `f` on the guest's memory; a guest without a memory traps.
fn with_memory<T: 'static>(caller: &mut Caller<'_, T>, f: impl FnOnce(&mut [u8]) -> Result<i32>) -> Result<i32> {
    let memory = guest_memory(caller)?;
    f(memory.data_mut(caller))
}

fn slice_mut(memory: &mut [u8], ptr: u32, len: u32) -> Option<&mut [u8]> {
    let start = ptr as usize;
    memory.get_mut(start..start.checked_add(len as usize)?)
}

/// Writes each value at its address, or nothing (`fault`) if any address is out of bounds.
fn write_all(memory: &mut [u8], writes: &[(u32, &[u8])]) -> Result<i32> {
    if writes.iter().any(|(at, bytes)| slice_mut(memory, *at, bytes.len() as u32).is_none()) {
        return Ok(errno::FAULT);
    }
    for (at, bytes) in writes {
        if let Some(place) = slice_mut(memory, *at, bytes.len() as u32) {
            place.copy_from_slice(bytes);
        }
    }
    Ok(errno::SUCCESS)
}

/// The total length of `count` `iovec`s (a pointer and a length, u32 each) at `iovs`, each of which must lie in
/// memory; `None` if one does not.
fn iovec_total(memory: &[u8], iovs: u32, count: u32) -> Option<u64> {
    let start = iovs as usize;
    let table = memory.get(start..start.checked_add((count as usize).checked_mul(8)?)?)?;
    table.chunks_exact(8).try_fold(0u64, |total, iovec| {
        let ptr = u32::from_le_bytes(iovec[0..4].try_into().ok()?) as usize;
        let len = u32::from_le_bytes(iovec[4..8].try_into().ok()?) as usize;
        memory.get(ptr..ptr.checked_add(len)?)?;
        Some(total + len as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Module, Store};

    struct State(Instant);

    impl WasiState for State {
        fn monotonic_origin(&self) -> Instant {
            self.0
        }
    }

    /// A module importing the WASI functions, each re-exported for the test to call, with a page of memory.
    fn instance() -> (Store<State>, wasmtime::Instance) {
        // Each import is called through a function of the module, so that it sees the module's memory.
        let imports = [
            ("environ_sizes_get", "i32 i32", "i32"),
            ("environ_get", "i32 i32", "i32"),
            ("clock_time_get", "i32 i64 i32", "i32"),
            ("random_get", "i32 i32", "i32"),
            ("fd_write", "i32 i32 i32 i32", "i32"),
            ("fd_read", "i32 i32 i32 i32", "i32"),
            ("fd_seek", "i32 i64 i32 i32", "i32"),
            ("fd_close", "i32", "i32"),
            ("fd_fdstat_get", "i32 i32", "i32"),
            ("proc_exit", "i32", ""),
        ];
        let mut wat = String::from("(module\n");
        for (name, params, result) in imports {
            let result = if result.is_empty() { String::new() } else { format!("(result {result})") };
            wat += &format!("(import \"{WASI_MODULE}\" \"{name}\" (func ${name} (param {params}) {result}))\n");
        }
        wat += "(memory (export \"memory\") 1)\n";
        for (name, params, result) in imports {
            let result = if result.is_empty() { String::new() } else { format!("(result {result})") };
            let args: String = (0..params.split(' ').count()).map(|i| format!("local.get {i} ")).collect();
            wat += &format!("(func (export \"{name}\") (param {params}) {result} {args} call ${name})\n");
        }
        wat += ")";
        let engine = Engine::default();
        let module = Module::new(&engine, wat::parse_str(&wat).unwrap()).unwrap();
        let mut linker = Linker::new(&engine);
        add_to_linker(&mut linker).unwrap();
        let mut store = Store::new(&engine, State(Instant::now()));
        let instance = linker.instantiate(&mut store, &module).unwrap();
        (store, instance)
    }

    fn memory(store: &mut Store<State>, instance: &wasmtime::Instance) -> Vec<u8> {
        instance.get_memory(&mut *store, "memory").unwrap().data(&*store).to_vec()
    }

    fn poke(store: &mut Store<State>, instance: &wasmtime::Instance, at: usize, bytes: &[u8]) {
        instance.get_memory(&mut *store, "memory").unwrap().data_mut(&mut *store)[at..at + bytes.len()]
            .copy_from_slice(bytes);
    }

    fn u32_at(memory: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(memory[at..at + 4].try_into().unwrap())
    }

    fn u64_at(memory: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(memory[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn the_environment_is_empty_and_stdin_at_its_end() {
        let (mut store, instance) = instance();
        poke(&mut store, &instance, 0, &[0xff; 16]);
        let sizes = instance.get_typed_func::<(u32, u32), i32>(&mut store, "environ_sizes_get").unwrap();
        assert_eq!(sizes.call(&mut store, (0, 4)).unwrap(), errno::SUCCESS);
        let read = instance.get_typed_func::<(u32, u32, u32, u32), i32>(&mut store, "fd_read").unwrap();
        assert_eq!(read.call(&mut store, (STDIN, 100, 0, 8)).unwrap(), errno::SUCCESS);
        let bytes = memory(&mut store, &instance);
        assert_eq!([u32_at(&bytes, 0), u32_at(&bytes, 4), u32_at(&bytes, 8)], [0, 0, 0]);
        assert_eq!(read.call(&mut store, (STDOUT, 100, 0, 8)).unwrap(), errno::BADF);
        assert_eq!(read.call(&mut store, (3, 100, 0, 8)).unwrap(), errno::BADF);
    }

    #[test]
    fn stdout_and_stderr_take_every_byte_and_keep_none() {
        let (mut store, instance) = instance();
        // Two iovecs at 16: 5 bytes at 100, 7 bytes at 200.
        let iovecs: Vec<u8> = [100u32, 5, 200, 7].iter().flat_map(|n| n.to_le_bytes()).collect();
        poke(&mut store, &instance, 16, &iovecs);
        let write = instance.get_typed_func::<(u32, u32, u32, u32), i32>(&mut store, "fd_write").unwrap();
        for fd in [STDOUT, STDERR] {
            assert_eq!(write.call(&mut store, (fd, 16, 2, 0)).unwrap(), errno::SUCCESS);
            assert_eq!(u32_at(&memory(&mut store, &instance), 0), 12);
        }
        assert_eq!(write.call(&mut store, (STDIN, 16, 2, 0)).unwrap(), errno::BADF);
        assert_eq!(write.call(&mut store, (7, 16, 2, 0)).unwrap(), errno::BADF);
        // A buffer past the end of memory, an iovec table past it, a result address past it: `fault`, nothing trapped.
        poke(&mut store, &instance, 32, &[0xf0, 0xff, 0, 0, 0x20, 0, 0, 0]);
        assert_eq!(write.call(&mut store, (STDOUT, 32, 1, 0)).unwrap(), errno::FAULT);
        assert_eq!(write.call(&mut store, (STDOUT, 65_530, 2, 0)).unwrap(), errno::FAULT);
        assert_eq!(write.call(&mut store, (STDOUT, 16, u32::MAX, 0)).unwrap(), errno::FAULT);
        assert_eq!(write.call(&mut store, (STDOUT, 16, 2, 65_534)).unwrap(), errno::FAULT);
    }

    #[test]
    fn the_clocks_are_the_hosts_and_the_monotonic_one_starts_with_the_store() {
        let (mut store, instance) = instance();
        let clock = instance.get_typed_func::<(u32, u64, u32), i32>(&mut store, "clock_time_get").unwrap();
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        assert_eq!(clock.call(&mut store, (CLOCK_REALTIME, 1, 0)).unwrap(), errno::SUCCESS);
        assert_eq!(clock.call(&mut store, (CLOCK_MONOTONIC, 1, 8)).unwrap(), errno::SUCCESS);
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        let bytes = memory(&mut store, &instance);
        assert!((before..=after).contains(&u64_at(&bytes, 0)), "{before} {} {after}", u64_at(&bytes, 0));
        // Since the store was made (far less than the host's uptime), and never going backwards.
        let monotonic = u64_at(&bytes, 8);
        assert!(monotonic < 60_000_000_000, "{monotonic}");
        assert_eq!(clock.call(&mut store, (CLOCK_MONOTONIC, 1, 8)).unwrap(), errno::SUCCESS);
        assert!(u64_at(&memory(&mut store, &instance), 8) >= monotonic);
        assert_eq!(clock.call(&mut store, (2, 1, 0)).unwrap(), errno::BADF, "no CPU clocks");
        assert_eq!(clock.call(&mut store, (CLOCK_REALTIME, 1, 65_532)).unwrap(), errno::FAULT);
    }

    #[test]
    fn random_bytes_fill_the_buffer_in_bounds_only() {
        let (mut store, instance) = instance();
        let random = instance.get_typed_func::<(u32, u32), i32>(&mut store, "random_get").unwrap();
        assert_eq!(random.call(&mut store, (64, 64)).unwrap(), errno::SUCCESS);
        assert_eq!(random.call(&mut store, (128, 64)).unwrap(), errno::SUCCESS);
        let bytes = memory(&mut store, &instance);
        assert_ne!(bytes[64..128], bytes[128..192], "two draws differ");
        assert!(bytes[192..].iter().all(|&byte| byte == 0), "nothing past the buffers is written");
        assert_eq!(random.call(&mut store, (65_500, 100)).unwrap(), errno::FAULT);
    }

    #[test]
    fn descriptors_are_the_three_standard_streams_only() {
        let (mut store, instance) = instance();
        let stat = instance.get_typed_func::<(u32, u32), i32>(&mut store, "fd_fdstat_get").unwrap();
        for (fd, rights) in [(STDIN, RIGHT_FD_READ), (STDOUT, RIGHT_FD_WRITE), (STDERR, RIGHT_FD_WRITE)] {
            poke(&mut store, &instance, 0, &[0xff; 24]);
            assert_eq!(stat.call(&mut store, (fd, 0)).unwrap(), errno::SUCCESS);
            let bytes = memory(&mut store, &instance);
            assert_eq!((bytes[0], u64_at(&bytes, 8), u64_at(&bytes, 16)), (0, rights, rights), "fd {fd}");
        }
        assert_eq!(stat.call(&mut store, (3, 0)).unwrap(), errno::BADF);
        assert_eq!(stat.call(&mut store, (STDIN, 65_530)).unwrap(), errno::FAULT);
        let seek = instance.get_typed_func::<(u32, i64, u32, u32), i32>(&mut store, "fd_seek").unwrap();
        assert_eq!(seek.call(&mut store, (STDOUT, 0, 0, 0)).unwrap(), errno::SPIPE);
        assert_eq!(seek.call(&mut store, (3, 0, 0, 0)).unwrap(), errno::BADF);
        let close = instance.get_typed_func::<u32, i32>(&mut store, "fd_close").unwrap();
        assert_eq!(close.call(&mut store, 3).unwrap(), errno::BADF);
        assert_eq!(close.call(&mut store, STDERR).unwrap(), errno::SUCCESS);
    }

    #[test]
    fn exiting_traps() {
        let (mut store, instance) = instance();
        let exit = instance.get_typed_func::<u32, ()>(&mut store, "proc_exit").unwrap();
        let error = exit.call(&mut store, 3).unwrap_err();
        assert!(format!("{error:#}").contains("exited with status 3"), "{error:#}");
    }
}
