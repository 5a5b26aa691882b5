//! A system-call filter on every worker process, applied once V8 is up: defence in depth around the isolates (V8's
//! own sandbox is the first line). A program that broke out of V8 inside a worker still could not start a process,
//! open a socket, trace or signal another process, change files by name, or reach the kernel's rarer attack surface
//! (io_uring, BPF, user namespaces, key rings, modules): those calls fail with `EPERM`. What the worker needs —
//! memory, threads, its channel to the host, clocks, its resource limits — is left alone.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// System calls a worker never makes, refused with `EPERM`.
const REFUSED: &[libc::c_long] = &[
    // Other programs and processes.
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kill,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_getfd,
    libc::SYS_pidfd_send_signal,
    // The network, and new sockets of any kind (the channel to the host is open already).
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    // Files changed by name.
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_mkdirat,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_fchmodat,
    libc::SYS_fchownat,
    libc::SYS_mknodat,
    libc::SYS_truncate,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    // Identity, namespaces and the system.
    libc::SYS_setuid,
    libc::SYS_setgid,
    libc::SYS_setreuid,
    libc::SYS_setregid,
    libc::SYS_setresuid,
    libc::SYS_setresgid,
    libc::SYS_setgroups,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_reboot,
    libc::SYS_kexec_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_personality,
    // Kernel surface a sandbox escape would reach for.
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_fanotify_init,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_unlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rename,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mkdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rmdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_link,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_symlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chmod,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chown,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lchown,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mknod,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_creat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
];

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Applies the filter to every thread of this process, and to the threads they start.
///
/// # Errors
/// The kernel refused the filter (seccomp unavailable), described.
pub(crate) fn confine() -> Result<(), String> {
    let programs = programs().map_err(|error| format!("the system-call filter could not be built: {error}"))?;
    for program in &programs {
        seccompiler::apply_filter_all_threads(program)
            .map_err(|error| format!("the system-call filter (seccomp) could not be applied: {error}"))?;
    }
    Ok(())
}

fn programs() -> Result<[BpfProgram; 2], seccompiler::Error> {
    let mut refused: BTreeMap<i64, Vec<SeccompRule>> = REFUSED.iter().map(|&call| (call, Vec::new())).collect();
    // Threads, yes; new processes, no: `clone` without `CLONE_THREAD`.
    let process =
        SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64), 0)?;
    refused.insert(libc::SYS_clone, vec![SeccompRule::new(vec![process])?]);
    let refuse = SeccompFilter::new(refused, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), ARCH)?;
    // `clone3` takes its flags in memory, which a filter cannot read: it reports itself missing, and the C library
    // falls back to `clone`, whose flags the filter above checks.
    let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    let missing = SeccompFilter::new(clone3, SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32), ARCH)?;
    Ok([refuse.try_into()?, missing.try_into()?])
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// Set in the environment of the child process that confines itself.
    const CHILD: &str = "ISOBOX_SECCOMP_TEST_CHILD";

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// Runs in a child process of its own (the filter cannot be taken off again): see the test below.
    #[test]
    fn confined_child() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        super::confine().unwrap();
        // SAFETY: plain system calls; their results are checked and nothing they return is used.
        unsafe {
            assert_eq!((libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0), errno()), (-1, libc::EPERM), "socket");
            let program = c"/bin/true".as_ptr();
            let argv = [program, std::ptr::null()];
            assert_eq!((libc::execv(program, argv.as_ptr()), errno()), (-1, libc::EPERM), "execv");
            assert_eq!((libc::fork(), errno()), (-1, libc::EPERM), "fork");
            assert_eq!((libc::kill(libc::getppid(), 0), errno()), (-1, libc::EPERM), "kill");
            assert_eq!((libc::unlinkat(libc::AT_FDCWD, c"/tmp/isobox-none".as_ptr(), 0), errno()), (-1, libc::EPERM));
        }
        // What a worker does still works: threads, memory, clocks.
        let sum = std::thread::spawn(|| (0..1000u64).sum::<u64>()).join().unwrap();
        assert_eq!(sum, 499_500);
        let memory = vec![1u8; 64 << 20];
        assert_eq!(memory.iter().map(|&byte| u64::from(byte)).sum::<u64>(), 64 << 20);
        assert!(isobox_core::cpu::thread_cpu_time() > std::time::Duration::ZERO);
    }

    #[test]
    fn the_filter_refuses_processes_sockets_and_files_and_leaves_threads() {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "seccomp::tests::confined_child", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&child.stdout);
        assert!(
            child.status.success(),
            "the confined child failed: {stdout}{}",
            String::from_utf8_lossy(&child.stderr)
        );
        assert!(stdout.contains("1 passed"), "the child ran no test: {stdout}");
    }
}
