//! A worker process killed from outside while it serves a request: the request gets an error at once, not a hang, and
//! the backend replaces the worker. A test binary of its own, so that the only workers are this test's.

use std::time::{Duration, Instant};

use isobox_core::{Backend, Limits, Request, SandboxError};
use isobox_v8::{V8Backend, V8Config};
use serde_json::json;

/// The pids of this process's V8 workers (its children started with the worker argument).
fn workers() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The parent pid is the second field after the command name, which is in parentheses.
        let Some(after_name) = stat.rsplit_once(')').map(|(_, rest)| rest) else { continue };
        let parent = after_name.split_whitespace().nth(1);
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if parent == Some(me.as_str()) && String::from_utf8_lossy(&cmdline).contains("--isobox-v8-worker") {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_request_gives_an_error_and_is_replaced() {
    let backend = V8Backend::new(V8Config { max_sandboxes: 1, warm_sandboxes: 1, ..V8Config::default() }).unwrap();
    // The one worker is started ahead; once it has served a request it is surely up.
    let outcome = backend
        .run(&Request::new("return 1").with_limits(Limits { timeout: Duration::from_secs(30), ..Limits::default() }))
        .await;
    assert_eq!(outcome.result.unwrap(), json!(1));
    let pids = workers();
    assert_eq!(pids.len(), 1, "{pids:?}");
    // Workers run under their system-call filter.
    let status = std::fs::read_to_string(format!("/proc/{}/status", pids[0])).unwrap();
    assert!(status.lines().any(|line| line == "Seccomp:\t2"), "{status}");

    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // SAFETY: a plain system call on our own child.
        unsafe { libc::kill(pids[0], libc::SIGKILL) };
    });
    let began = Instant::now();
    let request =
        Request::new("for (;;) {}").with_limits(Limits { timeout: Duration::from_secs(60), ..Limits::default() });
    let outcome = backend.run(&request).await;
    killer.await.unwrap();
    assert!(began.elapsed() < Duration::from_secs(10), "the request took {:?}", began.elapsed());
    match outcome.error() {
        Some(SandboxError::Internal { message }) => assert!(message.contains("died (signal 9)"), "{message}"),
        other => panic!("expected an internal error, got {other:?}"),
    }

    let outcome = backend
        .run(&Request::new("return 2").with_limits(Limits { timeout: Duration::from_secs(30), ..Limits::default() }))
        .await;
    assert_eq!(outcome.result.unwrap(), json!(2));
    let replaced = workers();
    assert_eq!(replaced.len(), 1, "{replaced:?}");

    // A worker killed while it waits for a request is replaced without the next request seeing it.
    // SAFETY: a plain system call on our own child.
    unsafe { libc::kill(replaced[0], libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(200));
    let outcome = backend
        .run(&Request::new("return 3").with_limits(Limits { timeout: Duration::from_secs(30), ..Limits::default() }))
        .await;
    assert_eq!(outcome.result.unwrap(), json!(3));
    let again = workers();
    assert!(again.len() == 1 && again[0] != replaced[0], "{again:?}");
}
