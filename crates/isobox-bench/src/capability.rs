//! The `bench` capability: the cheapest possible host call, and a call that parks a sandbox until released (to hold
//! many sandboxes alive at once for the memory workload).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use isobox_capabilities::{CallError, Capabilities, Capability};
use tokio::sync::watch;

const WIT: &str = r#"
package isobox:bench;

/// Host functions for isobox's benchmarks.
interface bench {
    /// Returns `n`: the cheapest possible host call.
    echo: func(n: u32) -> u32;
    /// Waits until the benchmark releases it, keeping the sandbox alive and paused.
    hold: func() -> u32;
}
"#;

/// Controls the sandboxes parked in `bench.hold()`.
#[derive(Clone)]
pub struct BenchCapability {
    parked: Arc<AtomicUsize>,
    release: watch::Sender<u64>,
}

impl std::fmt::Debug for BenchCapability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchCapability").field("parked", &self.parked()).finish_non_exhaustive()
    }
}

impl BenchCapability {
    /// A controller with no sandbox parked; clones share the parked sandboxes.
    pub fn new() -> Self {
        Self { parked: Arc::new(AtomicUsize::new(0)), release: watch::channel(0).0 }
    }

    /// How many sandboxes wait in `bench.hold()` now.
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::SeqCst)
    }

    /// Lets every waiting `bench.hold()` return.
    pub fn release_all(&self) {
        self.release.send_modify(|generation| *generation += 1);
    }

    /// The `bench` capability: `echo(n)` returns `n`, and `hold()` waits until [`release_all`](Self::release_all).
    ///
    /// # Panics
    /// Never: the `bench` WIT is part of this crate.
    pub fn capability(&self) -> Capability {
        let (parked, release) = (Arc::clone(&self.parked), self.release.clone());
        Capability::from_wit("bench.wit", WIT, "bench")
            .expect("the bench WIT parses")
            .func("echo", |_, (n,): (u32,)| async move { Ok::<_, CallError>(n) })
            .func("hold", move |_, ()| {
                let (parked, mut released) = (Arc::clone(&parked), release.subscribe());
                async move {
                    parked.fetch_add(1, Ordering::SeqCst);
                    let _ = released.changed().await;
                    parked.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, CallError>(0u32)
                }
            })
    }
}

impl Default for BenchCapability {
    fn default() -> Self {
        Self::new()
    }
}

/// The capabilities every backend under benchmark gets: `bench` and the demo `shop`.
pub fn capabilities(bench: &BenchCapability) -> Capabilities {
    let mut capabilities = Capabilities::new();
    capabilities.register(bench.capability()).expect("bench registers");
    capabilities.register(isobox_shop::capability()).expect("shop registers");
    capabilities
}
