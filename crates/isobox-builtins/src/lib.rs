//! isobox's built-in capabilities, each declared in `wit/` and implemented here:
//!
//! - [`kv`]: a persistent key-value store, kept apart per tenant;
//! - [`shop`]: a demo shop API (customers, products, orders) over a dataset shipped with isobox.

pub mod kv;
pub mod shop;

use std::path::Path;

use isobox_capabilities::Capabilities;

/// Every built-in capability, with the key-value store at `kv_path`.
pub fn all(kv_path: &Path) -> Result<Capabilities, Box<dyn std::error::Error + Send + Sync>> {
    let mut capabilities = Capabilities::new();
    capabilities.register(kv::KvStore::open(kv_path)?.capability())?;
    capabilities.register(shop::capability())?;
    Ok(capabilities)
}
