/// Why a module could not be loaded as a plugin. Loading never runs the plugin's code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The bytes are not a WebAssembly module.
    #[error("not a WebAssembly module")]
    NotWasm,

    /// A WebAssembly module, but not one `isobox compile` made.
    #[error("not an isobox plugin: the module has no `isobox-plugin` section (compile plugins with `isobox compile`)")]
    NotAPlugin,

    /// The section is there but does not read as isobox writes it.
    #[error("the plugin's `isobox-plugin` section is malformed: {0}")]
    Malformed(String),

    /// A dynamically linked plugin runs on the guest it was compiled against, and no other.
    #[error(
        "the plugin was compiled for another isobox guest ({built_for}; this host runs {host}): compile it again with \
         this isobox, or compile it with static linking"
    )]
    GuestMismatch {
        /// The guest the plugin was compiled against.
        built_for: String,
        /// This host's guest.
        host: String,
    },

    /// The plugin was compiled for another version of the guest interface.
    #[error("the plugin uses the guest interface `{built_for}`, but this host offers `{host}`")]
    AbiMismatch {
        /// The interface the plugin uses.
        built_for: String,
        /// The interface this host offers.
        host: String,
    },

    /// The plugin imports something neither the guest nor isobox provides.
    #[error("the plugin imports `{module}::{name}`, which isobox does not offer to plugins")]
    UnknownImport {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
    },

    /// The module is not valid WebAssembly, or wasmtime could not compile it.
    #[error("the plugin module is invalid: {0}")]
    Invalid(String),
}
