//! Many sandboxes at once on a multi-threaded runtime: a program that never ends does not hold up the others.

mod common;

use std::time::Duration;

use common::*;
use isobox_core::{Backend, Limits, Request};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_requests_with_one_endless_loop() {
    let forever = Limits { timeout: Duration::from_secs(60), ..Limits::default() };
    let looping = tokio::spawn(async move { backend().run(&Request::new("for (;;) {}").with_limits(forever)).await });

    let tasks: Vec<_> = (0..199)
        .map(|i| {
            tokio::spawn(async move {
                let request = Request::new("await null; return input * 2").with_input(json!(i));
                backend().run(&request).await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.unwrap();
        assert_eq!(outcome.result.unwrap(), json!(i * 2));
    }
    // Every other request finished while the endless one still runs on its own thread.
    assert!(!looping.is_finished(), "the endless loop should still be running");
    looping.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_endless_loops_all_time_out() {
    let tasks: Vec<_> =
        (0..8).map(|_| tokio::spawn(async { run_with("for (;;) {}", short_timeout()).await })).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().error().unwrap().kind(), "timeout");
    }
}

#[tokio::test]
async fn a_current_thread_runtime_is_never_blocked() {
    // On a single-threaded runtime, a request that loops until its deadline leaves the runtime free to run others.
    let looping = tokio::spawn(async { run_with("for (;;) {}", short_timeout()).await });
    assert_eq!(value("return 'meanwhile'").await, json!("meanwhile"));
    assert_eq!(looping.await.unwrap().error().unwrap().kind(), "timeout");
}
