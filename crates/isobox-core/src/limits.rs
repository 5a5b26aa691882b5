use std::time::Duration;

use crate::SandboxError;

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
    /// The default [`timeout`](Self::timeout): 5 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default [`memory_bytes`](Self::memory_bytes): 64 MiB.
    pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
    /// The default [`stack_bytes`](Self::stack_bytes): 512 KiB.
    pub const DEFAULT_STACK_BYTES: u32 = 512 << 10;
    /// The default [`output_bytes`](Self::output_bytes): 1 MiB.
    pub const DEFAULT_OUTPUT_BYTES: u64 = 1 << 20;
    /// The default [`host_calls`](Self::host_calls): 1,000.
    pub const DEFAULT_HOST_CALLS: u32 = 1000;
    /// The default [`host_call_bytes`](Self::host_call_bytes): 1 MiB.
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

/// The largest limits a backend can serve, which every request is checked against before it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// The backend's name, for messages (`wasm`, `v8`).
    pub backend: &'static str,
    /// The largest memory limit.
    pub max_memory_bytes: u64,
    /// The setting that raises it, named in the error (`WasmConfig::max_memory_bytes`).
    pub max_memory_setting: &'static str,
    /// The largest JavaScript stack limit.
    pub max_stack_bytes: u32,
    /// Whether the backend can count instructions ([`Limits::fuel`]); when not, why.
    pub no_fuel: Option<&'static str>,
}

impl Limits {
    /// Checks these limits against what a backend can serve.
    ///
    /// # Errors
    /// [`SandboxError::Unsupported`], naming the first limit the backend cannot serve and its maximum.
    pub fn check_within(&self, capacity: &Capacity) -> Result<(), SandboxError> {
        let unsupported = |message: String| Err(SandboxError::Unsupported { message });
        if let (Some(_), Some(why)) = (self.fuel, capacity.no_fuel) {
            return unsupported(format!("the {} backend has no instruction budget (fuel): {why}", capacity.backend));
        }
        if self.memory_bytes > capacity.max_memory_bytes {
            return unsupported(format!(
                "the request's memory limit ({} bytes) exceeds the {} backend's maximum ({} bytes, {})",
                self.memory_bytes, capacity.backend, capacity.max_memory_bytes, capacity.max_memory_setting
            ));
        }
        if self.stack_bytes > capacity.max_stack_bytes {
            return unsupported(format!(
                "the request's stack limit ({} bytes) exceeds the {} backend's maximum ({} bytes)",
                self.stack_bytes, capacity.backend, capacity.max_stack_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_past_a_backends_capacity_are_unsupported_naming_the_limit() {
        let capacity = Capacity {
            backend: "test",
            max_memory_bytes: 1 << 20,
            max_memory_setting: "TestConfig::max_memory_bytes",
            max_stack_bytes: 1024,
            no_fuel: Some("it cannot count"),
        };
        assert_eq!(
            Limits { memory_bytes: 1 << 20, stack_bytes: 1024, ..Limits::default() }.check_within(&capacity),
            Ok(())
        );
        let message = |limits: Limits| match limits.check_within(&capacity) {
            Err(SandboxError::Unsupported { message }) => message,
            other => panic!("{other:?}"),
        };
        let memory = message(Limits { memory_bytes: (1 << 20) + 1, stack_bytes: 1024, ..Limits::default() });
        assert!(memory.contains("memory limit") && memory.contains("TestConfig::max_memory_bytes"), "{memory}");
        let stack = message(Limits { memory_bytes: 1 << 20, stack_bytes: 1025, ..Limits::default() });
        assert!(stack.contains("stack limit (1025 bytes)"), "{stack}");
        let fuel = message(Limits { fuel: Some(1), ..Limits::default() });
        assert!(fuel.contains("no instruction budget (fuel): it cannot count"), "{fuel}");
    }
}
