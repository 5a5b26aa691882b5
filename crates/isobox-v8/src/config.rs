/// How a [`V8Backend`](crate::V8Backend) is set up. Per-request limits live in [`Limits`](isobox_core::Limits); these
/// are the bounds of the whole backend.
#[derive(Clone, Debug)]
pub struct V8Config {
    /// Sandboxes that may run at once; further requests wait for a free slot. Each running sandbox is one thread and
    /// one isolate (about 1 MiB, plus what its program allocates).
    pub max_sandboxes: u32,
    /// The largest memory limit a request may ask for.
    pub max_memory_bytes: u64,
}

impl Default for V8Config {
    fn default() -> Self {
        Self { max_sandboxes: 64, max_memory_bytes: 256 << 20 }
    }
}
