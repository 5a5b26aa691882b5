//! Plugin modules for the plugin host's tests: compiled as `isobox compile` compiles them (without its parsing of the
//! exports, which needs swc), or forged by hand.

use isobox_wasm::plugin::emit;
use isobox_wasm::plugin::{Linking, PluginManifest};

/// A dynamically linked plugin of `source` whose manifest lists `exports`.
pub fn plugin(source: &str, exports: &[&str]) -> Vec<u8> {
    let exports = exports.iter().map(|name| name.to_string()).collect();
    emit::plugin(source, Linking::Dynamic, exports).expect("the plugin compiles")
}

/// A hand-written module (WAT) with a manifest as `isobox compile` writes it.
pub fn forged(wat: &str, linking: Linking, exports: &[&str]) -> Vec<u8> {
    let mut module = wat::parse_str(wat).expect("the WAT parses");
    PluginManifest::new(linking, exports.iter().map(|name| name.to_string()).collect()).append_to(&mut module);
    module
}
