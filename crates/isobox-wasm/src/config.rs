use std::path::PathBuf;
use std::time::Duration;

use isobox_capabilities::Capabilities;

/// How a [`WasmBackend`](crate::WasmBackend) is set up. Per-request limits live in
/// [`Limits`](isobox_core::Limits); these are the bounds of the whole backend.
#[derive(Clone, Debug)]
pub struct WasmConfig {
    /// What requests may be granted. Default: none.
    pub capabilities: Capabilities,
    /// Sandboxes that may run at once; further requests wait for a free one. Each is a pooled, pre-reserved slot.
    /// Default: 1,000.
    pub max_sandboxes: u32,
    /// The largest memory limit a request may ask for (the size of each pooled memory slot).
    /// Default: 256 MiB.
    pub max_memory_bytes: u64,
    /// Where the compiled guest is cached between processes; `None` compiles it afresh (about a second) every time.
    /// Its artifacts are loaded as native code, so the directory is created with mode 0700 and used only while it is
    /// this user's and no one else can write to it (otherwise the guest is compiled afresh, with a warning).
    /// Default: [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// How often running sandboxes check their deadline and yield to other tasks: a shorter tick stops an endless
    /// loop closer to its deadline and shares the threads more finely, at a small cost to every running sandbox.
    /// Default: 2 ms.
    pub tick: Duration,
    /// Whether wasmtime writes `/tmp/perf-PID.map`, which names the guest's compiled functions for Linux's `perf`
    /// (`perf record -g`, then `perf report`). It costs only when the guest is compiled or loaded.
    /// Default: whether the environment variable `ISOBOX_PERF_MAP` is set.
    pub perf_map: bool,
}

impl Default for WasmConfig {
    fn default() -> Self {
        Self {
            capabilities: Capabilities::new(),
            max_sandboxes: 1000,
            max_memory_bytes: 256 << 20,
            cache_dir: Some(default_cache_dir()),
            tick: Duration::from_millis(2),
            perf_map: std::env::var_os("ISOBOX_PERF_MAP").is_some(),
        }
    }
}

/// `$ISOBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/isobox`, else `~/.cache/isobox`, else a folder of this user's in the
/// temp dir (which another user may have made first: it is then not used, see [`WasmConfig::cache_dir`]).
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ISOBOX_CACHE_DIR") {
        return dir.into();
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("isobox");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache/isobox");
    }
    isobox_core::private_dir::in_temp_dir("isobox-cache")
}
