//! The host treats its workers as hostile: a worker program that breaks the protocol, dies, or never starts costs its
//! request an error, on time, and never the host. Each case is a small shell program standing in for a compromised
//! worker (`V8Config::worker_program`), speaking raw frames on its standard input, the channel.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use isobox_core::{Backend, Limits, Request, SandboxError};
use isobox_v8::{V8Backend, V8Config};

/// A frame that says the worker is ready (length 1, tag 10), then waiting for the host's request (its first byte), so
/// that what the worker sends next answers the request, as a compromised worker's frames would, whatever the timing.
const READY: &str = r"printf '\001\000\000\000\012' >&0; head -c 1 <&0 >/dev/null";

fn program(name: &str, body: &str) -> PathBuf {
    // Under the build's own scratch directory (cleaned with `target/`), not the machine's temp dir.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("isobox-v8-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    // Written by a child process: a file this process held open for writing would be inherited by a worker another
    // test starts at that moment, and running the program would fail with "text file busy" until that worker runs.
    let status = Command::new("sh")
        .args(["-c", r#"printf '%s\n' "$1" > "$2" && chmod 755 "$2""#, "sh"])
        .arg(format!("#!/bin/sh\n{body}"))
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "writing {}", path.display());
    path
}

async fn run_with(worker: PathBuf, timeout_ms: u64) -> (Option<SandboxError>, Duration) {
    let backend =
        V8Backend::new(V8Config { worker_program: Some(worker), warm_sandboxes: 0, ..V8Config::default() }).unwrap();
    let request = Request::new("return 1")
        .with_limits(Limits { timeout: Duration::from_millis(timeout_ms), ..Limits::default() });
    let began = Instant::now();
    let outcome = backend.run(&request).await;
    (outcome.result.err(), began.elapsed())
}

fn internal(error: Option<SandboxError>) -> String {
    match error {
        Some(SandboxError::Internal { message }) => message,
        other => panic!("expected an internal error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_larger_than_the_budgets_ends_the_worker() {
    // Ready, then a console frame announcing 4 GiB.
    let worker = program("huge", &format!(r"{READY}; printf '\377\377\377\377\013' >&0; sleep 30"));
    let (error, took) = run_with(worker, 5_000).await;
    assert!(internal(error).contains("broke the protocol"));
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_end_the_worker() {
    let cases = [
        // An unknown tag.
        ("unknown", r"printf '\001\000\000\000\177' >&0"),
        // A console line whose length runs past its frame.
        ("line", r"printf '\007\000\000\000\013\000\377\377\000\000\141' >&0"),
        // A report cut short.
        ("report", r"printf '\003\000\000\000\015\000\000' >&0"),
    ];
    for (name, frame) in cases {
        let worker = program(name, &format!("{READY}; {frame}; sleep 30"));
        let (error, took) = run_with(worker, 5_000).await;
        let message = internal(error);
        assert!(message.contains("broke the protocol"), "{name}: {message}");
        assert!(took < Duration::from_secs(3), "{name} took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_of_garbage_is_an_internal_error() {
    // A well-formed report (status ok) whose result is not JSON.
    let report = r"printf '\037\000\000\000\015' >&0; head -c 24 /dev/zero >&0; printf '\000{{{{{' >&0";
    let worker = program("garbage", &format!("{READY}; {report}; sleep 30"));
    let (error, _) = run_with(worker, 5_000).await;
    assert!(internal(error).contains("not JSON"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_exits_or_never_starts_costs_only_its_request() {
    // Exits as soon as the request comes.
    let worker = program("exits", &format!("{READY}; dd bs=1 count=5 status=none <&0 >/dev/null; exit 3"));
    let (error, took) = run_with(worker, 5_000).await;
    assert!(internal(error).contains("exited (exit status: 3)"));
    assert!(took < Duration::from_secs(3), "took {took:?}");

    // Never says it is ready: the request ends at its deadline.
    let worker = program("silent", "sleep 30");
    let (error, took) = run_with(worker, 300).await;
    assert!(matches!(error, Some(SandboxError::Timeout { .. })), "{error:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");

    // Sends frames slowly and never reports: killed at the deadline plus the grace period.
    let worker =
        program("stalls", &format!(r"{READY}; while :; do printf '\001\000\000\000\013' >&0; sleep 0.05; done"));
    let (error, took) = run_with(worker, 300).await;
    assert!(matches!(error, Some(SandboxError::Timeout { .. })), "{error:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}
