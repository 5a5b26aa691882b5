use isobox_capabilities::Capabilities;

/// How a [`V8Backend`](crate::V8Backend) is set up. Per-request limits live in [`Limits`](isobox_core::Limits); these
/// are the bounds of the whole backend.
#[derive(Clone)]
pub struct V8Config {
    /// What requests may be granted.
    pub capabilities: Capabilities,
    /// Sandboxes that may run at once; further requests wait for a free slot. Each running sandbox is one thread and
    /// one isolate (about 1 MiB, plus what its program allocates).
    pub max_sandboxes: u32,
    /// The largest memory limit a request may ask for.
    pub max_memory_bytes: u64,
    /// Sandbox threads that make a fresh isolate and context ahead of the next request, for requests with the
    /// default memory limit (each isolate still serves one request). They hold about 1 MiB each while they wait; the
    /// other requests, and requests beyond them, make their isolate when they come. 0 turns this off.
    pub warm_sandboxes: u32,
}

impl Default for V8Config {
    fn default() -> Self {
        Self { capabilities: Capabilities::new(), max_sandboxes: 64, max_memory_bytes: 256 << 20, warm_sandboxes: 2 }
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
            .finish()
    }
}
