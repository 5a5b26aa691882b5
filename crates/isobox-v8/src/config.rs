use std::path::PathBuf;

use isobox_capabilities::Capabilities;

/// How a [`V8Backend`](crate::V8Backend) is set up. Per-request limits live in [`Limits`](isobox_core::Limits); these
/// are the bounds of the whole backend.
#[derive(Clone)]
pub struct V8Config {
    /// What requests may be granted; a request naming a capability not here is refused before it runs. Default:
    /// none.
    pub capabilities: Capabilities,
    /// Sandboxes that may run at once, each in a worker process of its own; further requests wait for a free slot
    /// (until their deadline). Also the most worker processes the backend keeps. Default: 64.
    pub max_sandboxes: u32,
    /// The largest memory limit a request may ask for, in bytes; a request asking for more is refused. Default:
    /// 256 MiB.
    pub max_memory_bytes: u64,
    /// Worker processes started with the backend, before any request. Every worker makes a fresh isolate and
    /// context ahead of its next request (for requests with the default memory limit; each isolate still serves one
    /// request); requests that find no idle worker start one (up to `max_sandboxes`), which then stays for later
    /// requests. 0 starts none ahead. Default: 2.
    pub warm_sandboxes: u32,
    /// The program started as a worker process; `None` (the default) is the running program itself
    /// (`/proc/self/exe`). Either must link isobox-v8, whose start-up code turns it into a worker.
    pub worker_program: Option<PathBuf>,
}

impl Default for V8Config {
    fn default() -> Self {
        Self {
            capabilities: Capabilities::new(),
            max_sandboxes: 64,
            max_memory_bytes: 256 << 20,
            warm_sandboxes: 2,
            worker_program: None,
        }
    }
}

impl std::fmt::Debug for V8Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let capabilities: Vec<&str> = self.capabilities.interfaces().map(|interface| interface.name.as_str()).collect();
        f.debug_struct("V8Config")
            .field("capabilities", &capabilities)
            .field("max_sandboxes", &self.max_sandboxes)
            .field("max_memory_bytes", &self.max_memory_bytes)
            .field("warm_sandboxes", &self.warm_sandboxes)
            .field("worker_program", &self.worker_program)
            .finish()
    }
}
