//! What makes a WebAssembly module an isobox plugin: a custom section, `isobox-plugin`, holding a JSON
//! [`PluginManifest`]: the guest the module was compiled for, how it links to it, and the functions it exports.

use serde::{Deserialize, Serialize};
use wasmparser::{Parser, Payload};

use crate::plugin::PluginError;

/// The name of the custom section that holds a plugin's manifest.
pub const SECTION: &str = "isobox-plugin";

/// The interface between a compiled module and the guest: the package of `wit/guest.wit` (its version changes with
/// the interface). It is the import namespace of dynamically linked modules; the guest declares the same name in its
/// `import_namespace` section.
pub const ABI: &str = "isobox:guest@1.0.0";

/// The version of the manifest's own layout.
const FORMAT: u32 = 1;

/// A plugin's manifest, as `isobox compile` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginManifest {
    /// The version of this layout.
    pub format: u32,
    /// The guest interface the module uses ([`ABI`]).
    pub abi: String,
    /// The guest the module was compiled against ([`guest_id`](crate::guest_id)).
    pub guest: String,
    /// Whether the module brings its own guest or links to the host's.
    pub linking: Linking,
    /// The functions the plugin's JavaScript module exports, by name.
    pub exports: Vec<String>,
}

/// How a compiled module reaches the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Linking {
    /// A small module that imports the guest: it needs a host running the very guest it was compiled against.
    #[default]
    Dynamic,
    /// A self-contained module with its own copy of the guest: it needs a host with the same guest interface.
    Static,
}

impl PluginManifest {
    /// The manifest of a module compiled now, against this build's guest.
    pub fn new(linking: Linking, exports: Vec<String>) -> Self {
        Self { format: FORMAT, abi: ABI.into(), guest: crate::guest_id().into(), linking, exports }
    }

    /// Appends the manifest to `module` as its `isobox-plugin` custom section (custom sections may come last).
    pub fn append_to(&self, module: &mut Vec<u8>) {
        let payload = serde_json::to_vec(self).expect("manifests serialise");
        append_custom_section(module, SECTION, &payload);
    }

    /// Reads the manifest of a compiled plugin.
    ///
    /// # Errors
    /// [`PluginError::NotWasm`], [`PluginError::NotAPlugin`] or [`PluginError::Malformed`].
    pub fn read(module: &[u8]) -> Result<Self, PluginError> {
        if !Parser::is_core_wasm(module) {
            return Err(PluginError::NotWasm);
        }
        let mut found = None;
        for payload in Parser::new(0).parse_all(module) {
            let payload = payload.map_err(|error| PluginError::Invalid(error.to_string()))?;
            if let Payload::CustomSection(section) = payload
                && section.name() == SECTION
            {
                found = Some(section.data());
            }
        }
        let manifest: Self = serde_json::from_slice(found.ok_or(PluginError::NotAPlugin)?)
            .map_err(|error| PluginError::Malformed(error.to_string()))?;
        if manifest.format != FORMAT {
            return Err(PluginError::Malformed(format!(
                "format {} is not supported (this isobox reads {FORMAT})",
                manifest.format
            )));
        }
        Ok(manifest)
    }
}

/// Appends a custom section named `name` holding `payload` to `module`. Custom sections may come anywhere, last
/// included, so this never needs to parse the module. `module` need not be valid WebAssembly (tests and fuzzers forge
/// plugins with it); the section itself is well formed for any name and payload.
pub fn append_custom_section(module: &mut Vec<u8>, name: &str, payload: &[u8]) {
    let mut section = Vec::with_capacity(5 + name.len() + payload.len());
    leb128(&mut section, name.len());
    section.extend_from_slice(name.as_bytes());
    section.extend_from_slice(payload);
    module.push(0); // the custom section's id
    leb128(module, section.len());
    module.extend_from_slice(&section);
}

/// `value` as unsigned LEB128, the encoding of WebAssembly's sizes.
fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// How many memories `module` defines itself (rather than imports).
pub(crate) fn defined_memories(module: &[u8]) -> Result<u32, PluginError> {
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::MemorySection(memories) = payload.map_err(|error| PluginError::Invalid(error.to_string()))? {
            return Ok(memories.count());
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_survives_the_round_trip() {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        let manifest = PluginManifest::new(Linking::Dynamic, vec!["a".into(), "b".repeat(200)]);
        manifest.append_to(&mut module);
        assert_eq!(PluginManifest::read(&module).unwrap(), manifest);
    }

    #[test]
    fn custom_sections_of_any_size_parse_back() {
        // Sizes around LEB128's one-, two- and three-byte boundaries.
        for (name_len, payload_len) in [(0, 0), (1, 126), (127, 0), (128, 1 << 14), (300, 20_000)] {
            let (name, payload) = ("n".repeat(name_len), vec![0xffu8; payload_len]);
            let mut module = b"\0asm\x01\0\0\0".to_vec();
            append_custom_section(&mut module, &name, &payload);
            append_custom_section(&mut module, "second", b"x");
            let sections: Vec<(String, Vec<u8>)> = Parser::new(0)
                .parse_all(&module)
                .filter_map(|payload| match payload.unwrap() {
                    Payload::CustomSection(section) => Some((section.name().to_string(), section.data().to_vec())),
                    _ => None,
                })
                .collect();
            assert_eq!(sections, [(name, payload), ("second".to_string(), b"x".to_vec())]);
        }
    }

    #[test]
    fn a_module_without_a_manifest_is_not_a_plugin() {
        assert!(matches!(PluginManifest::read(b"\0asm\x01\0\0\0"), Err(PluginError::NotAPlugin)));
        assert!(matches!(PluginManifest::read(b"<html>"), Err(PluginError::NotWasm)));
    }

    #[test]
    fn the_guest_declares_the_same_interface() {
        let namespace = Parser::new(0)
            .parse_all(crate::guest::RAW_GUEST)
            .find_map(|payload| match payload.unwrap() {
                Payload::CustomSection(section) if section.name() == "import_namespace" => Some(section.data()),
                _ => None,
            })
            .expect("the guest has an import_namespace section");
        assert_eq!(namespace, ABI.as_bytes());
    }
}
