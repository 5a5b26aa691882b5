//! The built-in capabilities as the CLI offers them: `isobox caps`, `isobox types`, and the registry `run` grants from.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use isobox_capabilities::{Capabilities, Interface, RegistryError};
use isobox_connectors::Config;
use isobox_files::{Files, FilesConfig, FilesRoot};
use isobox_http as http;
use isobox_http::{HttpClient, HttpConfig};
use isobox_kv as kv;
use isobox_shop as shop;

use crate::args::GrantArgs;
use crate::run::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// `isobox types`: which capabilities to declare.
#[derive(Args)]
pub struct TypesArgs {
    /// Capabilities to declare, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    grant: Vec<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

/// `isobox caps`: where connectors are declared.
#[derive(Args)]
pub struct CapsArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// `isobox search`: what to look for, in which capabilities.
#[derive(Args)]
pub struct SearchArgs {
    /// Capabilities to search, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    grant: Vec<String>,
    #[command(flatten)]
    config: ConfigArgs,
    /// The answer's size limit in bytes (about a quarter of that in tokens).
    #[arg(long, default_value_t = isobox_mcp::DEFAULT_SEARCH_BUDGET,
          value_parser = clap::value_parser!(u64).range(200..=1_000_000))]
    budget: u64,
    /// What to look for, in plain words (`list open pull requests`); none: an overview of the whole API.
    query: Vec<String>,
}

/// The `--config` flag: an `isobox.toml` declaring connectors.
#[derive(Args, Clone, Default)]
pub struct ConfigArgs {
    /// An `isobox.toml` declaring connectors (MCP servers, OpenAPI documents), each a capability of its name.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The registry of a command that runs programs, and the key-value store when it was opened. Each failure is reported
/// on standard error: an unreadable `--config`, or a grant or `--require-approval` that names neither a built-in
/// capability nor one of its connectors, is a usage error naming every capability that could be granted (the file is
/// read once, before anything is loaded); a capability that cannot be set up is a failure. `kv` is the store to use
/// if one is open already (its database admits one opening per process).
pub async fn registry(args: &GrantArgs, kv: Option<kv::KvStore>) -> Result<Registry, ExitCode> {
    let report = |message: String, code: u8| {
        eprintln!("isobox: {message}");
        ExitCode::from(code)
    };
    let config = args.config.config.as_deref().map(Config::from_path).transpose();
    let config = config.map_err(|error| report(error.to_string(), EXIT_USAGE))?;
    let mut known: Vec<&str> = BUILT_INS.to_vec();
    known.extend(config.iter().flat_map(|config| config.connectors.keys().map(String::as_str)));
    if let Some(unknown) = args.grant.iter().find(|grant| !known.contains(&grant.as_str())) {
        let message = format!("unknown capability `{unknown}` (known: {})", known.join(", "));
        return Err(report(message, EXIT_USAGE));
    }
    let configured = config.iter().flat_map(|config| config.require_approval.iter());
    let gated = approval_names(args.require_approval.iter().chain(configured), &known)
        .map_err(|message| report(message, EXIT_USAGE))?;
    let mut registry =
        set_up(args, config.as_ref(), kv).await.map_err(|error| report(error.to_string(), EXIT_FAILED))?;
    mark_approvals(&mut registry.capabilities, &gated).map_err(|error| report(error.to_string(), EXIT_USAGE))?;
    Ok(registry)
}

/// The built-in capabilities, by name.
pub const BUILT_INS: [&str; 4] = ["files", "http", "kv", "shop"];

/// `--require-approval` and `require-approval` names (`capability.method`), each naming one of the capabilities
/// that could be granted, `known`.
pub fn approval_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
    known: &[&str],
) -> Result<Vec<(&'a str, &'a str)>, String> {
    names
        .into_iter()
        .map(|name| match name.split_once('.') {
            Some((capability, function)) if known.contains(&capability) && !function.is_empty() => {
                Ok((capability, function))
            }
            _ => Err(format!(
                "require-approval takes CAPABILITY.METHOD (such as `kv.set`), got `{name}` (capabilities: {})",
                known.join(", ")
            )),
        })
        .collect()
}

/// Marks the functions `gated` of the capabilities that are set up (granted; the others are not there to call).
///
/// # Errors
/// A capability that declares no such function.
pub fn mark_approvals(capabilities: &mut Capabilities, gated: &[(&str, &str)]) -> Result<(), RegistryError> {
    for &(capability, function) in gated {
        if capabilities.get(capability).is_some() {
            capabilities.require_approval(capability, [function])?;
        }
    }
    Ok(())
}

/// What [`registry`] sets up.
pub struct Registry {
    pub capabilities: Capabilities,
    /// The key-value store, when `kv` is granted or a store was given.
    pub kv: Option<kv::KvStore>,
}

/// The built-in capabilities, `http` reaching only the allowed origins, and the granted connectors of `config`. The
/// key-value store is opened only when granted (its database admits one process), the HTTP client, with its TLS
/// setup, is built only when granted or given origins to check, the files directory is opened only when granted, and
/// a connector is loaded (an MCP server started) only when granted.
async fn set_up(
    args: &GrantArgs,
    config: Option<&Config>,
    mut kv_store: Option<kv::KvStore>,
) -> Result<Registry, Box<dyn std::error::Error + Send + Sync>> {
    let (grants, allowed_origins) = (&args.grant, &args.allow_origins);
    let mut capabilities = Capabilities::new();
    capabilities.register(shop::capability())?;
    if grants.iter().any(|grant| grant == "http") || !allowed_origins.is_empty() {
        let http = HttpConfig {
            allowed_origins: allowed_origins.to_vec(),
            allow_private_addresses: args.allow_private_addresses,
            ..HttpConfig::default()
        };
        capabilities.register(HttpClient::new(&http)?.capability())?;
    }
    if grants.iter().any(|grant| grant == "kv") {
        let store = match kv_store.take() {
            Some(store) => store,
            None => open_kv(args)?,
        };
        capabilities.register(store.capability())?;
        kv_store = Some(store);
    }
    if grants.iter().any(|grant| grant == "files") {
        let section = config.map(|config| config.files.clone()).unwrap_or_default();
        let root = args.files_root.clone().or(section.root);
        capabilities.register(open_files(root, args.files_read_only || section.read_only)?.capability())?;
    }
    if let Some(config) = config {
        let loaded = isobox_connectors::load(config, |name| grants.iter().any(|grant| grant == name)).await;
        if let Some(error) = loaded.errors.into_iter().next() {
            return Err(error.into());
        }
        // A connector's type named as a built-in's, or another connector's, is renamed rather than refused.
        for connector in loaded.capabilities {
            capabilities.register_renaming(connector)?;
        }
    }
    Ok(Registry { capabilities, kv: kv_store })
}

/// Opens the key-value store at its default path, with the quotas of `args`.
pub fn open_kv(args: &GrantArgs) -> Result<kv::KvStore, String> {
    let path = kv::default_path();
    let config = kv::KvConfig {
        max_bytes_per_tenant: args.kv_max_bytes,
        max_keys_per_tenant: args.kv_max_keys,
        ..kv::KvConfig::default()
    };
    kv::KvStore::open_with(&path, config).map_err(|error| error.to_string())
}

/// The files `files` grants: `root` (`--files-root`, else `[files] root`), one directory every tenant sees, or else a
/// directory per tenant in isobox's data dir.
pub fn open_files(root: Option<PathBuf>, read_only: bool) -> Result<Files, String> {
    let root = match root {
        Some(root) => FilesRoot::Shared(root),
        None => FilesRoot::PerTenant(isobox_files::default_dir()),
    };
    Files::open(FilesConfig { root, read_only, ..FilesConfig::default() }).map_err(|error| error.to_string())
}

/// The interfaces of every built-in capability and of the connectors of `config` (only the `grants`, when given),
/// without opening anything the built-ins keep. A connector that does not load is an error when granted, and a
/// warning otherwise.
async fn catalogue(config: &ConfigArgs, grants: &[String]) -> Result<Vec<Interface>, String> {
    let mut all =
        vec![isobox_files::interface(), http::interface(), kv::interface(), shop::capability().interface().clone()];
    if let Some(path) = &config.config {
        let config = Config::from_path(path).map_err(|error| error.to_string())?;
        let loaded =
            isobox_connectors::load(&config, |name| grants.is_empty() || grants.iter().any(|grant| grant == name))
                .await;
        for error in loaded.errors {
            if !grants.is_empty() {
                return Err(error.to_string());
            }
            eprintln!("isobox: skipped {error}");
        }
        all.extend(loaded.capabilities.iter().map(|capability| capability.interface().clone()));
    }
    let all = isobox_capabilities::distinct_types(all);
    if grants.is_empty() {
        return Ok(all);
    }
    grants
        .iter()
        .map(|grant| {
            all.iter().find(|interface| &interface.name == grant).cloned().ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|interface| interface.name.as_str()).collect();
                format!("unknown capability `{grant}` (known: {})", known.join(", "))
            })
        })
        .collect()
}

/// The granted interfaces, or the exit code for a usage error already reported.
pub async fn granted(config: &ConfigArgs, grants: &[String]) -> Result<Vec<Interface>, ExitCode> {
    catalogue(config, grants).await.map_err(|message| {
        eprintln!("isobox: {message}");
        ExitCode::from(EXIT_USAGE)
    })
}

pub async fn list(args: CapsArgs) -> ExitCode {
    let interfaces = match granted(&args.config, &[]).await {
        Ok(interfaces) => interfaces,
        Err(code) => return code,
    };
    for interface in interfaces {
        let summary = interface.docs.as_deref().and_then(|docs| docs.split(". ").next()).unwrap_or("");
        let summary = summary.lines().next().unwrap_or("");
        let methods: Vec<&str> = interface.functions.iter().map(|f| f.method.as_str()).collect();
        let shown = if methods.len() > 12 {
            format!("{}, … ({} functions; see `isobox search`)", methods[..12].join(", "), methods.len())
        } else {
            methods.join(", ")
        };
        outln!("{:8} {summary}", interface.name);
        outln!("{:8} global `{}`: {shown}", "", interface.global);
    }
    ExitCode::from(EXIT_OK)
}

pub async fn types(args: TypesArgs) -> ExitCode {
    match granted(&args.config, &args.grant).await {
        Ok(interfaces) => {
            out!("{}", isobox_capabilities::declarations(&interfaces));
            ExitCode::from(EXIT_OK)
        }
        Err(code) => code,
    }
}

pub async fn search(args: SearchArgs) -> ExitCode {
    match granted(&args.config, &args.grant).await {
        Ok(interfaces) => {
            let query = args.query.join(" ");
            out!("{}", isobox_mcp::search(&interfaces, Some(&query), args.budget as usize));
            ExitCode::from(EXIT_OK)
        }
        Err(code) => code,
    }
}
