/// Why a module could not be loaded as a plugin. Loading never runs the plugin's code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    #[error("not a WebAssembly module")]
    NotWasm,

    #[error("not an isobox plugin: the module has no `isobox-plugin` section (compile plugins with `isobox compile`)")]
    NotAPlugin,

    #[error("the plugin's `isobox-plugin` section is malformed: {0}")]
    Malformed(String),

    /// A dynamically linked plugin runs on the guest it was compiled against, and no other.
    #[error(
        "the plugin was compiled for another isobox guest ({built_for}; this host runs {host}): compile it again with \
         this isobox, or compile it with static linking"
    )]
    GuestMismatch { built_for: String, host: String },

    #[error("the plugin uses the guest interface `{built_for}`, but this host offers `{host}`")]
    AbiMismatch { built_for: String, host: String },

    #[error("the plugin imports `{module}::{name}`, which isobox does not offer to plugins")]
    UnknownImport { module: String, name: String },

    #[error("the plugin module is invalid: {0}")]
    Invalid(String),
}
