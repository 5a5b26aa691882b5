//! Many sandboxes at once on a multi-threaded runtime: a program that never ends does not hold up the others.

mod common;

use std::time::Duration;

use common::*;
use isobox::{Backend, Limits, Request};
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
    // Every other request finished while the endless one still runs: it yields instead of holding a worker.
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
