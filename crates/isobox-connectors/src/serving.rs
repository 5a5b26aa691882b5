//! The sections of `isobox.toml` that `isobox serve` reads: where it listens, where state lives, and the tenants that
//! may call it, each with its API keys, grants and limit ceilings.
//!
//! ```toml
//! [serve]
//! listen = "127.0.0.1:8080"
//!
//! [store]
//! postgres = "postgres://isobox@127.0.0.1:5432/isobox"   # or `path = "kv.redb"`; default: one redb file
//!
//! [tenants.demo]
//! keys = ["${ISOBOX_DEMO_KEY}"]          # read from the environment at start; or key-sha256 = ["<hex>"]
//! grants = ["kv", "shop"]                # what its requests may be granted (a subset each time)
//! max-concurrent = 8                     # requests at once; more get 429
//! limits = { timeout-ms = 5000, memory-mb = 64 }   # ceilings: a request may ask for less, never more
//! ```

use std::path::PathBuf;
use std::time::Duration;

use isobox_core::Limits;
use serde::Deserialize;

/// `[serve]`: how `isobox serve` listens and runs programs.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeConfig {
    /// The address to listen on (default `127.0.0.1:8080`; the command line's `--listen` wins).
    pub listen: Option<String>,
    /// The sandbox engine, `wasm` (default) or `v8`.
    pub backend: Option<String>,
    /// The largest request body, in bytes (default 1 MiB); larger bodies get 413.
    pub max_body_bytes: Option<usize>,
    /// Sandboxes live at once across all tenants (default: the backend's).
    pub max_sandboxes: Option<u32>,
    /// On SIGTERM or Ctrl-C, how long in-flight requests may take to finish before the process stops anyway, in
    /// milliseconds (default 30,000).
    pub drain_timeout_ms: Option<u64>,
    /// `Host` values the MCP endpoint accepts (default: any, as every request must carry an API key; list the names
    /// the service is reached by to refuse DNS-rebinding attempts from browsers).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

impl ServeConfig {
    /// The address listened on when neither [`listen`](Self::listen) nor `--listen` names one: local connections only.
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
    /// The largest request body when [`max_body_bytes`](Self::max_body_bytes) is not set: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
    /// How long in-flight requests may take to finish on shutdown when
    /// [`drain_timeout_ms`](Self::drain_timeout_ms) is not set: 30 s.
    pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

    /// The largest request body, in bytes: the configured value or
    /// [`DEFAULT_MAX_BODY_BYTES`](Self::DEFAULT_MAX_BODY_BYTES).
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes.unwrap_or(Self::DEFAULT_MAX_BODY_BYTES)
    }

    /// How long in-flight requests may take to finish once the server is told to stop: the configured value or
    /// [`DEFAULT_DRAIN_TIMEOUT`](Self::DEFAULT_DRAIN_TIMEOUT).
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout_ms.map(Duration::from_millis).unwrap_or(Self::DEFAULT_DRAIN_TIMEOUT)
    }
}

/// `[store]`: where state that outlives a request (`kv`) lives.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StoreConfig {
    /// An embedded redb file (one process only), relative to the configuration file. Default, when neither this nor
    /// [`postgres`](Self::postgres) is set: `kv.redb` in isobox's data directory.
    pub path: Option<PathBuf>,
    /// A PostgreSQL URL (`${VAR}`s expanded): state shared by every replica. At most one of this and
    /// [`path`](Self::path) may be set. Default: none.
    pub postgres: Option<String>,
    /// The bytes of keys and values each tenant may store. Default: 64 MiB.
    pub max_bytes_per_tenant: Option<u64>,
    /// The keys each tenant may store. Default: 100,000.
    pub max_keys_per_tenant: Option<u64>,
}

/// `[tenants.NAME]`: who may call the service, and what their requests may do.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TenantConfig {
    /// API keys, usually `${VAR}` read from the environment at start, each at least 16 characters. Only their SHA-256
    /// is kept in memory. Default: none.
    #[serde(default)]
    pub keys: Vec<String>,
    /// API keys given as the hex SHA-256 of the key (64 hex digits), so that the file holds no secret. Default: none.
    #[serde(default)]
    pub key_sha256: Vec<String>,
    /// The capabilities (built-ins and connectors) this tenant's requests may be granted. Default: none.
    #[serde(default)]
    pub grants: Vec<String>,
    /// Origins its programs may reach through `http` (when granted), such as `https://api.example.com`. Default: none.
    #[serde(default)]
    pub origins: Vec<String>,
    /// Requests served at once for this tenant (default 16); more get 429 with `Retry-After`.
    pub max_concurrent: Option<u32>,
    /// The most a request may ask for; a request that names no limit gets these. Default: isobox's default
    /// [`Limits`] for every limit not given.
    #[serde(default)]
    pub limits: LimitsConfig,
}

impl TenantConfig {
    /// Requests served at once for a tenant whose [`max_concurrent`](Self::max_concurrent) is not set.
    pub const DEFAULT_MAX_CONCURRENT: u32 = 16;
}

/// Limits as a configuration file or a request body gives them, each optional and in the units of the command line's
/// flags (`timeout-ms`, `cpu-ms`, `memory-mb`, `stack-kb`, `output-kb`, `host-calls`, `fuel`; a JSON body may write
/// them with `_`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsConfig {
    /// Wall-clock time for the whole request, in milliseconds, from 1 to [`MAX_TIMEOUT_MS`](Self::MAX_TIMEOUT_MS).
    /// `None`: the base limits' (5 s unless configured otherwise).
    #[serde(alias = "timeout_ms")]
    pub timeout_ms: Option<u64>,
    /// CPU time for the program's own execution, in milliseconds, from 1 to
    /// [`MAX_TIMEOUT_MS`](Self::MAX_TIMEOUT_MS). `None`: the base limits' (unbounded unless configured otherwise).
    #[serde(alias = "cpu_ms")]
    pub cpu_ms: Option<u64>,
    /// The sandbox's memory, in MiB, from 1 to [`MAX_MEMORY_MB`](Self::MAX_MEMORY_MB). `None`: the base limits' (64 MiB
    /// unless configured otherwise).
    #[serde(alias = "memory_mb")]
    pub memory_mb: Option<u64>,
    /// The JavaScript call stack, in KiB, from 1 to [`MAX_STACK_KB`](Self::MAX_STACK_KB). `None`: the base limits'
    /// (512 KiB unless configured otherwise).
    #[serde(alias = "stack_kb")]
    pub stack_kb: Option<u32>,
    /// The program's result and console output together, in KiB, from 1 to [`MAX_OUTPUT_KB`](Self::MAX_OUTPUT_KB).
    /// `None`: the base limits' (1 MiB unless configured otherwise).
    #[serde(alias = "output_kb")]
    pub output_kb: Option<u64>,
    /// Capability calls per request; 0 allows none. `None`: the base limits' (1,000 unless configured otherwise).
    #[serde(alias = "host_calls")]
    pub host_calls: Option<u32>,
    /// A deterministic budget of guest instructions (wasm fuel; the V8 backend has none), at least 1. `None`: the base
    /// limits' (unbounded unless configured otherwise).
    pub fuel: Option<u64>,
}

impl LimitsConfig {
    // The largest values taken here and by the command line's flags, so that converting them to bytes cannot overflow
    // (a stack of 4 GiB would wrap to nothing). A value the backend cannot serve is still refused by the backend.
    /// The largest `timeout-ms` and `cpu-ms`: one day.
    pub const MAX_TIMEOUT_MS: u64 = 24 * 60 * 60 * 1000;
    /// The largest `memory-mb`: 1 TiB, far beyond what a backend serves, and refused there.
    pub const MAX_MEMORY_MB: u64 = 1 << 20;
    /// The largest `stack-kb`: the most whose size in bytes fits in a `u32`.
    pub const MAX_STACK_KB: u32 = u32::MAX >> 10;
    /// The largest `output-kb`: 1 TiB.
    pub const MAX_OUTPUT_KB: u64 = 1 << 30;

    /// `base` with the limits given here in place of its own.
    ///
    /// # Errors
    /// A value of 0 or beyond what the unit can hold in bytes, naming the field.
    pub fn over(&self, base: &Limits) -> Result<Limits, String> {
        fn check<T: PartialOrd + Copy + std::fmt::Display + From<u8>>(
            name: &str,
            value: Option<T>,
            max: T,
        ) -> Result<Option<T>, String> {
            match value {
                Some(value) if value < T::from(1) || value > max => {
                    Err(format!("`{name}` must be from 1 to {max}, got {value}"))
                }
                value => Ok(value),
            }
        }
        let mut limits = base.clone();
        if let Some(ms) = check("timeout-ms", self.timeout_ms, Self::MAX_TIMEOUT_MS)? {
            limits.timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = check("cpu-ms", self.cpu_ms, Self::MAX_TIMEOUT_MS)? {
            limits.cpu_time = Some(Duration::from_millis(ms));
        }
        if let Some(mb) = check("memory-mb", self.memory_mb, Self::MAX_MEMORY_MB)? {
            limits.memory_bytes = mb << 20;
        }
        if let Some(kb) = check("stack-kb", self.stack_kb, Self::MAX_STACK_KB)? {
            limits.stack_bytes = kb << 10;
        }
        if let Some(kb) = check("output-kb", self.output_kb, Self::MAX_OUTPUT_KB)? {
            limits.output_bytes = kb << 10;
        }
        if let Some(calls) = self.host_calls {
            limits.host_calls = calls;
        }
        if let Some(fuel) = check("fuel", self.fuel, u64::MAX)? {
            limits.fuel = Some(fuel);
        }
        Ok(limits)
    }
}

/// The first limit of `asked` above `ceiling`, named as in [`LimitsConfig`], with both values.
pub fn limit_above(asked: &Limits, ceiling: &Limits) -> Option<String> {
    let above = |name: &str, asked: u128, ceiling: u128| {
        (asked > ceiling).then(|| format!("`{name}` asks for {asked}, and this tenant's ceiling is {ceiling}"))
    };
    above("timeout-ms", asked.timeout.as_millis(), ceiling.timeout.as_millis())
        .or_else(|| match (asked.cpu_time, ceiling.cpu_time) {
            (None, Some(ceiling)) => {
                Some(format!("`cpu-ms` is unbounded, and this tenant's ceiling is {}", ceiling.as_millis()))
            }
            (Some(asked), Some(ceiling)) => above("cpu-ms", asked.as_millis(), ceiling.as_millis()),
            _ => None,
        })
        .or_else(|| above("memory-mb", (asked.memory_bytes >> 20).into(), (ceiling.memory_bytes >> 20).into()))
        .or_else(|| above("stack-kb", (asked.stack_bytes >> 10).into(), (ceiling.stack_bytes >> 10).into()))
        .or_else(|| above("output-kb", (asked.output_bytes >> 10).into(), (ceiling.output_bytes >> 10).into()))
        .or_else(|| above("host-calls", asked.host_calls.into(), ceiling.host_calls.into()))
        .or_else(|| match (asked.fuel, ceiling.fuel) {
            (None, Some(ceiling)) => Some(format!("`fuel` is unbounded, and this tenant's ceiling is {ceiling}")),
            (Some(asked), Some(ceiling)) => above("fuel", asked.into(), ceiling.into()),
            _ => None,
        })
}

/// Checks what serde cannot: a tenant's name, its keys, its limits, and that `[store]` names one place.
pub(crate) fn check(
    tenants: &std::collections::BTreeMap<String, TenantConfig>,
    store: &StoreConfig,
) -> Result<(), String> {
    if store.path.is_some() && store.postgres.is_some() {
        return Err("[store]: give `path` or `postgres`, not both".into());
    }
    for (name, tenant) in tenants {
        let fail = |message: String| format!("tenant `{name}`: {message}");
        isobox_capabilities::check_tenant(name).map_err(fail)?;
        if tenant.keys.is_empty() && tenant.key_sha256.is_empty() {
            return Err(fail("give its API keys in `keys` or `key-sha256`".into()));
        }
        if let Some(bad) = tenant.key_sha256.iter().find(|hash| {
            hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase())
        }) {
            return Err(fail(format!("`{bad}` is not a SHA-256 in lowercase hex (64 characters)")));
        }
        if tenant.max_concurrent == Some(0) {
            return Err(fail("`max-concurrent` must be at least 1".into()));
        }
        tenant.limits.over(&Limits::default()).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn a_service_configuration_parses() {
        let config = Config::from_toml(
            r#"
            [serve]
            listen = "127.0.0.1:9000"
            max-body-bytes = 4096

            [store]
            postgres = "postgres://u@127.0.0.1/db"

            [tenants.demo]
            keys = ["${ISOBOX_DEMO_KEY}"]
            key-sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
            grants = ["kv", "shop"]
            max-concurrent = 2
            limits = { timeout-ms = 1000, memory-mb = 32 }
            "#,
        )
        .unwrap();
        assert_eq!(config.serve.listen.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(config.serve.max_body_bytes(), 4096);
        let demo = &config.tenants["demo"];
        assert_eq!(demo.grants, ["kv", "shop"]);
        let limits = demo.limits.over(&Limits::default()).unwrap();
        assert_eq!((limits.timeout, limits.memory_bytes), (Duration::from_millis(1000), 32 << 20));
        assert_eq!(limits.stack_bytes, Limits::DEFAULT_STACK_BYTES);
    }

    #[test]
    fn the_shipped_examples_parse() {
        let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
        let serve = Config::from_path(std::path::Path::new(examples).join("serve.toml").as_path()).unwrap();
        assert_eq!(serve.tenants["demo"].grants, ["kv", "shop"]);
        let kubernetes = std::fs::read_to_string(format!("{examples}/kubernetes.yaml")).unwrap();
        let config_map: serde_yaml::Value = serde_yaml::Deserializer::from_str(&kubernetes)
            .map(serde_yaml::Value::deserialize)
            .next()
            .unwrap()
            .unwrap();
        let toml = config_map["data"]["isobox.toml"].as_str().unwrap();
        let config = Config::from_toml(toml).unwrap();
        assert!(config.store.postgres.is_some() && config.tenants.contains_key("demo"));
    }

    #[test]
    fn mistakes_are_named() {
        let error = |text: &str| Config::from_toml(text).unwrap_err().to_string();
        assert!(error("[tenants.a]\ngrants = []").contains("tenant `a`: give its API keys"));
        assert!(error("[tenants.\"a b\"]\nkeys = [\"k\"]").contains("tenant `a b`"));
        assert!(error("[tenants.a]\nkey-sha256 = [\"abc\"]").contains("not a SHA-256"));
        assert!(error("[tenants.a]\nkeys = [\"k\"]\nlimits = { memory-mb = 0 }").contains("`memory-mb` must be"));
        assert!(error("[tenants.a]\nkeys = [\"k\"]\nmax-concurrent = 0").contains("at least 1"));
        assert!(error("[tenants.a]\nkeys = [\"k\"]\nkey = \"x\"").contains("unknown field"));
        assert!(error("[store]\npath = \"a\"\npostgres = \"b\"").contains("not both"));
        assert!(error("[serve]\nlisten = 1").contains("invalid type"));
    }

    #[test]
    fn ceilings_are_compared_limit_by_limit() {
        let ceiling = LimitsConfig { timeout_ms: Some(1000), fuel: Some(10), ..Default::default() };
        let ceiling = ceiling.over(&Limits::default()).unwrap();
        let asked = |limits: LimitsConfig| limit_above(&limits.over(&ceiling).unwrap(), &ceiling);
        assert_eq!(asked(LimitsConfig::default()), None);
        assert_eq!(asked(LimitsConfig { timeout_ms: Some(999), fuel: Some(10), ..Default::default() }), None);
        assert!(asked(LimitsConfig { timeout_ms: Some(1001), ..Default::default() }).unwrap().contains("timeout-ms"));
        assert!(asked(LimitsConfig { memory_mb: Some(65), ..Default::default() }).unwrap().contains("memory-mb"));
        assert!(asked(LimitsConfig { fuel: Some(11), ..Default::default() }).unwrap().contains("`fuel`"));
        let unbounded = Limits { fuel: None, ..ceiling.clone() };
        assert!(limit_above(&unbounded, &ceiling).unwrap().contains("unbounded"));

        let ceiling = LimitsConfig { cpu_ms: Some(50), ..Default::default() }.over(&Limits::default()).unwrap();
        assert_eq!(ceiling.cpu_time, Some(std::time::Duration::from_millis(50)));
        let asked = |limits: LimitsConfig| limit_above(&limits.over(&ceiling).unwrap(), &ceiling);
        assert_eq!(asked(LimitsConfig { cpu_ms: Some(50), ..Default::default() }), None);
        assert!(asked(LimitsConfig { cpu_ms: Some(51), ..Default::default() }).unwrap().contains("`cpu-ms`"));
        let unbounded = Limits { cpu_time: None, ..ceiling.clone() };
        assert!(limit_above(&unbounded, &ceiling).unwrap().contains("`cpu-ms` is unbounded"));
        assert!(
            LimitsConfig { cpu_ms: Some(0), ..Default::default() }.over(&ceiling).unwrap_err().contains("`cpu-ms`")
        );
    }
}
