//! Keeps the kernel from mapping image pages a sandbox never reads into its slot.
//!
//! A sandbox's memory is mapped copy-on-write from the guest's image (a file). When a program first reads a page of
//! it, Linux maps not that page alone but every page of the image around it that is in the page cache (fault-around,
//! 64 KiB): a small request reads pages in nearly every 64 KiB of the snapshot, so its slot ended with most of the
//! image mapped, some 60 pages where it had read about 12. Those pages are shared (the page cache holds them once),
//! but each mapping of them counts in the process's resident set, once per live sandbox.
//!
//! Linux does not fault around in a mapping registered with a userfaultfd for write-protection, and with
//! asynchronous write-protection (Linux 6.7+, the kernels with the `PAGEMAP_SCAN` the pooling allocator's reset uses)
//! any mapping may be registered. isobox registers each slot's memory once, the first time a sandbox runs in it, and
//! never write-protects a page: no fault is ever reported to the userfaultfd, and nothing else about the mapping
//! changes. Where the kernel refuses, memory is mapped as before.

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, OnceLock};

use wasmtime::{Memory, Store};

/// The slots of one pool whose memory is registered. A slot keeps its mapping from sandbox to sandbox (the pooling
/// allocator maps the image into a slot again only for another module, after which that slot maps more than it
/// reads, as it would unregistered), and its mapping ends with the pool's engine.
#[derive(Default)]
pub(crate) struct Slots {
    registered: Mutex<HashSet<usize>>,
}

impl Slots {
    /// Registers `memory`'s accessible bytes with the process's userfaultfd, unless its slot is registered already.
    /// Call it once the sandbox is instantiated, before its program runs.
    pub(crate) fn turn_off<T: 'static>(&self, store: &Store<T>, memory: Memory) {
        let (base, len) = (memory.data_ptr(store) as usize, memory.data_size(store));
        let first = self.registered.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(base);
        if let (true, Some(userfaultfd)) = (first, userfaultfd()) {
            // Failure leaves the mapping as it was: it only costs resident memory.
            let _ = sys::register_write_protect(userfaultfd, base, len);
        }
    }
}

/// The process's userfaultfd, made on first use; `None` where the kernel has none or refuses asynchronous
/// write-protection.
fn userfaultfd() -> Option<&'static OwnedFd> {
    static USERFAULTFD: OnceLock<Option<OwnedFd>> = OnceLock::new();
    USERFAULTFD.get_or_init(sys::open).as_ref()
}

#[cfg(target_os = "linux")]
mod sys {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    // From `linux/userfaultfd.h`.
    const UFFD_API: u64 = 0xAA;
    const UFFD_USER_MODE_ONLY: libc::c_int = 1;
    const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
    const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
    // `_IOWR(0xAA, 0x3F, struct uffdio_api)` and `_IOWR(0xAA, 0x00, struct uffdio_register)`.
    const UFFDIO_API: libc::c_ulong = 0xc018_aa3f;
    const UFFDIO_REGISTER: libc::c_ulong = 0xc020_aa00;

    #[repr(C)]
    struct UffdioApi {
        api: u64,
        features: u64,
        ioctls: u64,
    }

    #[repr(C)]
    struct UffdioRegister {
        start: u64,
        len: u64,
        mode: u64,
        ioctls: u64,
    }

    /// A userfaultfd that handles faults of user code only (which an unprivileged process may make) and resolves
    /// write-protection faults itself.
    pub(super) fn open() -> Option<OwnedFd> {
        let flags = libc::O_CLOEXEC | libc::O_NONBLOCK | UFFD_USER_MODE_ONLY;
        // SAFETY: the syscall takes only flags and returns a new descriptor, or -1.
        let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
        let fd = libc::c_int::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut api = UffdioApi { api: UFFD_API, features: UFFD_FEATURE_WP_ASYNC, ioctls: 0 };
        // SAFETY: `UFFDIO_API` reads and writes the `uffdio_api` it is given, which lives across the call.
        let done = unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API, &mut api) };
        (done == 0 && api.features & UFFD_FEATURE_WP_ASYNC != 0).then_some(fd)
    }

    pub(super) fn register_write_protect(fd: &OwnedFd, base: usize, len: usize) -> std::io::Result<()> {
        let mut register =
            UffdioRegister { start: base as u64, len: len as u64, mode: UFFDIO_REGISTER_MODE_WP, ioctls: 0 };
        // SAFETY: `UFFDIO_REGISTER` reads and writes the `uffdio_register` it is given; registering a range for
        // write-protection changes no page's contents or protection.
        match unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_REGISTER, &mut register) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::os::fd::OwnedFd;

    pub(super) fn open() -> Option<OwnedFd> {
        None
    }

    pub(super) fn register_write_protect(_fd: &OwnedFd, _base: usize, _len: usize) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, SeekFrom};
    use std::time::{Duration, Instant};

    use isobox_core::Request;
    use wasmtime::{Memory, PoolingAllocationConfig, Store};

    use crate::WasmConfig;
    use crate::pool::{Fuel, Pool};
    use crate::sandbox::tests::sandbox;

    /// Whether page `index` of `memory` is mapped into the process (`/proc/self/pagemap`'s "present" bit).
    fn mapped<T: 'static>(store: &Store<T>, memory: Memory, index: usize) -> bool {
        let page = memory.data_ptr(store) as usize / 4096 + index;
        let mut pagemap = std::fs::File::open("/proc/self/pagemap").unwrap();
        pagemap.seek(SeekFrom::Start(page as u64 * 8)).unwrap();
        let mut entry = [0; 8];
        pagemap.read_exact(&mut entry).unwrap();
        u64::from_le_bytes(entry) >> 63 == 1
    }

    /// Reads a byte of page `index` of `memory`, as a program would.
    fn read<T: 'static>(store: &Store<T>, memory: Memory, index: usize) {
        // SAFETY: the page lies within the memory's accessible bytes (checked by the slice index).
        let _ = unsafe { std::ptr::read_volatile(&memory.data(store)[index * 4096]) };
    }

    /// Reading a page of the image maps its neighbours too into a slot that is not registered (so this kernel faults
    /// around, and has them cached), and that page alone into one that is.
    #[tokio::test]
    async fn a_registered_slot_maps_only_the_pages_read() {
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            assert!(super::userfaultfd().is_some(), "Linux 6.7+ has asynchronous write-protection");
        }
        let pool = Pool::new(&WasmConfig::default(), 1, Fuel::Uncounted, None).expect("the guest loads");
        let (plain_store, plain, _) = sandbox(&pool).await;
        let (store, memory, _) = sandbox(&pool).await;
        pool.fault_around.turn_off(&store, memory);
        // A page of the guest's data (past its 1 MiB stack), in the middle of its 64 KiB window.
        let page = (1 << 20) / 4096 + 8;
        let window = page - 8..page + 8;
        assert!(!mapped(&store, memory, page), "nothing has read the page yet");
        read(&plain_store, plain, page);
        read(&store, memory, page);
        // Not every neighbour need be mapped: the kernel passes over a page another thread has locked at that moment
        // (tests running alongside read the same file).
        let around = window.clone().filter(|&index| mapped(&plain_store, plain, index)).count();
        assert!(around >= 8, "{around} pages of the window mapped where no one faults around");
        let mapped_here: Vec<usize> = window.filter(|&index| mapped(&store, memory, index)).collect();
        assert_eq!(mapped_here, [page], "only the page read is mapped");
    }

    /// A request registers its slot, once: the next request in the slot finds it registered.
    #[tokio::test]
    async fn requests_register_their_slot_once() {
        let pool = Pool::new(&WasmConfig::default(), 1, Fuel::Uncounted, None).expect("the guest loads");
        for _ in 0..3 {
            let request = Request::new("return [1, 2, 3].length");
            let host_calls = pool.admit(&request).unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            let report = crate::program::run(&pool, &request, host_calls, deadline).await;
            assert_eq!(report.result.unwrap(), 3);
        }
        assert_eq!(pool.fault_around.registered.lock().unwrap().len(), 1);
    }
}
