//! isobox's built-in capabilities, each declared in `wit/` and implemented here:
//!
//! - [`kv`]: a persistent key-value store, kept apart per tenant;
//! - [`http`]: outbound HTTP to the origins the embedder allows, and nowhere else;
//! - [`shop`]: a demo shop API (customers, products, orders) over a dataset shipped with isobox.

pub mod http;
pub mod kv;
pub mod shop;

use std::path::Path;

use isobox_capabilities::Capabilities;

/// Every built-in capability, with the key-value store at `kv_path` and `http` reaching what `http` allows.
pub fn all(kv_path: &Path, http: &http::HttpConfig) -> Result<Capabilities, Box<dyn std::error::Error + Send + Sync>> {
    let mut capabilities = Capabilities::new();
    capabilities.register(kv::KvStore::open(kv_path)?.capability())?;
    capabilities.register(http::HttpClient::new(http)?.capability())?;
    capabilities.register(shop::capability())?;
    Ok(capabilities)
}
