use std::time::Duration;

/// What one request may consume. Every limit has a default; exceeding one ends the request with the matching
/// [`SandboxError`](crate::SandboxError) and leaves the host untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the whole request, including time spent waiting on the host.
    pub timeout: Duration,
    /// An optional budget of CPU time for the program's own execution, as the OS counts it on the threads that ran
    /// it: time spent awaiting capability calls counts only against [`timeout`](Self::timeout). None by default.
    pub cpu_time: Option<Duration>,
    /// An optional deterministic budget of guest instructions (wasm fuel), independent of machine speed.
    pub fuel: Option<u64>,
    /// The sandbox's memory.
    pub memory_bytes: u64,
    /// The JavaScript call stack.
    pub stack_bytes: u32,
    /// The program's result and console output together.
    pub output_bytes: u64,
    /// Calls to capabilities.
    pub host_calls: u32,
    /// The JSON size of each host call's arguments, and of each result.
    pub host_call_bytes: u64,
}

impl Limits {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
    pub const DEFAULT_STACK_BYTES: u32 = 512 << 10;
    pub const DEFAULT_OUTPUT_BYTES: u64 = 1 << 20;
    pub const DEFAULT_HOST_CALLS: u32 = 1000;
    pub const DEFAULT_HOST_CALL_BYTES: u64 = 1 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            cpu_time: None,
            fuel: None,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            stack_bytes: Self::DEFAULT_STACK_BYTES,
            output_bytes: Self::DEFAULT_OUTPUT_BYTES,
            host_calls: Self::DEFAULT_HOST_CALLS,
            host_call_bytes: Self::DEFAULT_HOST_CALL_BYTES,
        }
    }
}
