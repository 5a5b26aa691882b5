//! Many sandboxes at once, on every backend: a program that never ends does not hold up the others, on a
//! multi-threaded runtime or a single-threaded one.

use crate::common;

use std::time::Duration;

use common::*;
use isobox::{Limits, Request};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_requests_with_one_endless_loop() {
    for (name, backend) in all() {
        let forever = Limits { timeout: Duration::from_secs(60), ..Limits::default() };
        let endless = std::sync::Arc::clone(backend);
        let looping = tokio::spawn(async move { endless.run(&Request::new("for (;;) {}").with_limits(forever)).await });

        let tasks: Vec<_> = (0..199)
            .map(|i| {
                let backend = std::sync::Arc::clone(backend);
                tokio::spawn(async move {
                    let request = Request::new("await null; return input * 2").with_input(json!(i));
                    backend.run(&request).await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let outcome = task.await.unwrap();
            assert_eq!(outcome.result.unwrap(), json!(i * 2), "{name}");
        }
        // Every other request finished while the endless one still runs: it does not hold a worker.
        assert!(!looping.is_finished(), "{name}: the endless loop should still be running");
        looping.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_endless_loops_all_time_out() {
    for (name, backend) in all() {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let backend = std::sync::Arc::clone(backend);
                tokio::spawn(
                    async move { backend.run(&Request::new("for (;;) {}").with_limits(short_timeout())).await },
                )
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().error().unwrap().kind(), "timeout", "{name}");
        }
    }
}

#[tokio::test]
async fn a_current_thread_runtime_is_never_blocked() {
    // On a single-threaded runtime, a request that loops until its deadline leaves the runtime free to run others.
    for (name, backend) in all() {
        let endless = std::sync::Arc::clone(backend);
        let looping =
            tokio::spawn(async move { endless.run(&Request::new("for (;;) {}").with_limits(short_timeout())).await });
        tokio::task::yield_now().await;
        assert_eq!(
            backend.run(&Request::new("return 'meanwhile'")).await.result.unwrap(),
            json!("meanwhile"),
            "{name}"
        );
        assert_eq!(looping.await.unwrap().error().unwrap().kind(), "timeout", "{name}");
    }
}
