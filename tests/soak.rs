//! A bounded soak run on every backend (`isobox bench --soak` runs the full one): thousands of requests, 16 at once,
//! one in ten hostile. Every outcome must be the documented one, no acknowledged `kv` write may be lost, and the
//! process must end with the file descriptors and threads it started with and without its memory growing.

mod common;

use std::time::Duration;

use isobox_bench::soak::{SoakOptions, capabilities, soak};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_soak_run_keeps_every_promise() {
    let dir = tempfile::tempdir().unwrap();
    let capabilities = capabilities(dir.path()).unwrap();
    // As many sandboxes as requests at once (as `isobox bench --soak` sets up): a pool that may grow past what the
    // warm-up made would end with more file descriptors (V8 workers' channels) than it started with, by design.
    for (name, backend) in common::backends_with(&capabilities, Some(16)) {
        let requests = if name == "wasm" { 3_000 } else { 300 };
        let options = SoakOptions { requests, concurrency: 16, time_limit: Duration::from_secs(120) };
        let report = soak(backend, &capabilities, &options).await;
        println!("{}", report.text());
        assert_eq!(report.requests, requests, "{name}: every request was made");
        assert_eq!(report.hostile, requests / 10, "{name}");
        assert!(report.wrong.is_empty(), "{name}: {:#?}", report.wrong);
        // A short run has not yet touched every pooled slot a full one settles on (each keeps up to 4 MiB resident
        // between requests): 10 % plus that much per concurrent request.
        let failures = report.failures(16 * (4 << 10) + (32 << 10));
        assert!(failures.is_empty(), "{name}: {failures:#?}\n{}", report.text());
    }
}
