//! Tenants and their API keys: a request's `Authorization: Bearer KEY` names its tenant, and the tenant bounds what the
//! request may be granted, how much it may use, and how many of its requests run at once.

use std::collections::HashMap;
use std::sync::Arc;

use isobox_capabilities::{Capabilities, Interface};
use isobox_connectors::{TenantConfig, expand_env};
use isobox_core::{Backend, Limits};
use isobox_mcp::{McpHttp, McpServer};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ServeError;

/// One tenant, as its requests see it.
#[derive(Debug)]
pub struct Tenant {
    /// The tenant's name, its table's name in the configuration (`[tenants.NAME]`): the key space of its state.
    pub name: String,
    /// What its requests may be granted; a request naming no grants gets all of them.
    pub grants: Vec<String>,
    /// The interfaces of `grants`, for `types` and `search`.
    pub interfaces: Vec<Interface>,
    /// The most a request may ask for, and what a request naming no limits gets.
    pub ceiling: Limits,
    /// Its requests that may run at once; more are answered with 429.
    pub max_concurrent: u32,
    permits: Arc<Semaphore>,
    /// Its MCP endpoint: its grants, its limits, its tenant.
    pub mcp: McpHttp,
}

impl Tenant {
    /// A place among the tenant's requests running now, or `None` when all are taken.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }
}

/// Every tenant, by the SHA-256 of each of its keys.
pub struct Tenants {
    by_key: HashMap<[u8; 32], Arc<Tenant>>,
}

impl std::fmt::Debug for Tenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.by_key.values().map(|tenant| tenant.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        f.debug_struct("Tenants").field("tenants", &names).field("keys", &self.by_key.len()).finish()
    }
}

impl Tenants {
    /// The tenants of a configuration, their `${VAR}` keys read from the environment now. Every grant must name a
    /// capability registered in `capabilities`. Each tenant gets an MCP endpoint on `backend` with its grants and
    /// limits, accepting the `Host` values `allowed_hosts` (empty: any).
    ///
    /// # Errors
    /// Naming the tenant: a grant that is not a registered capability, limits out of range, a key whose `${VAR}` is
    /// not set or which is shorter than 16 characters, a `key-sha256` that is not 64 hex digits, or one key given to
    /// two tenants.
    pub fn new(
        configs: &std::collections::BTreeMap<String, TenantConfig>,
        backend: &Arc<dyn Backend>,
        capabilities: &Capabilities,
        allowed_hosts: &[String],
        pending: Option<&Arc<dyn isobox_core::approval::PendingRuns>>,
    ) -> Result<Self, ServeError> {
        let mut by_key = HashMap::new();
        for (name, config) in configs {
            let fail = |message: String| ServeError::new(format!("tenant `{name}`: {message}"));
            let interfaces = config
                .grants
                .iter()
                .map(|grant| {
                    capabilities.get(grant).cloned().ok_or_else(|| {
                        let known: Vec<&str> = capabilities.interfaces().map(|i| i.name.as_str()).collect();
                        fail(format!("grants `{grant}`, which is not a capability (known: {})", known.join(", ")))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let ceiling = config.limits.over(&Limits::default()).map_err(fail)?;
            let mut mcp = McpServer::new(Arc::clone(backend), capabilities, &config.grants)
                .map_err(|error| fail(error.to_string()))?
                .with_limits(ceiling.clone())
                .with_tenant(name.clone());
            if let Some(pending) = pending {
                mcp = mcp.with_approvals(isobox_core::approval::Approvals::new(Arc::clone(pending)));
            }
            let mcp = mcp.http(allowed_hosts);
            let max_concurrent = config.max_concurrent.unwrap_or(TenantConfig::DEFAULT_MAX_CONCURRENT);
            let tenant = Arc::new(Tenant {
                name: name.clone(),
                grants: config.grants.clone(),
                interfaces,
                ceiling,
                max_concurrent,
                permits: Arc::new(Semaphore::new(max_concurrent as usize)),
                mcp,
            });
            let mut hashes = Vec::new();
            for key in &config.keys {
                let key = expand_env(key).map_err(fail)?;
                if key.len() < 16 {
                    return Err(fail("an API key must be at least 16 characters".into()));
                }
                hashes.push(sha256(&key));
            }
            for hex in &config.key_sha256 {
                hashes.push(from_hex(hex).ok_or_else(|| fail(format!("`{hex}` is not a SHA-256 in hex")))?);
            }
            for hash in hashes {
                if let Some(other) = by_key.insert(hash, Arc::clone(&tenant)) {
                    return Err(fail(format!("an API key is also tenant `{}`'s", other.name)));
                }
            }
        }
        Ok(Self { by_key })
    }

    /// The tenant an `Authorization` header's value names, if any.
    pub fn authenticate(&self, authorization: &str) -> Option<&Arc<Tenant>> {
        let (scheme, key) = authorization.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        self.by_key.get(&sha256(key.trim()))
    }

    /// Whether no key names a tenant, so that every request would be refused.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// The SHA-256 of `key`: what is kept and compared instead of the key.
pub fn sha256(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn from_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let hash = sha256("test");
        let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        assert_eq!(from_hex(&hex), Some(hash));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
    }
}
