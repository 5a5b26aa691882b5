//! The built-in capabilities as the CLI offers them: `isobox caps`, `isobox types`, and the registry `run` grants from.

use std::process::ExitCode;

use clap::Args;
use isobox_builtins::http::{HttpClient, HttpConfig};
use isobox_builtins::{http, kv, shop};
use isobox_capabilities::{Capabilities, Interface};

use crate::args::GrantArgs;
use crate::run::{EXIT_OK, EXIT_USAGE};

#[derive(Args)]
pub struct TypesArgs {
    /// Capabilities to declare, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    grant: Vec<String>,
}

/// The built-in capabilities, `http` reaching only the allowed origins. The key-value store is opened only when
/// granted (its database admits one process), and the HTTP client, with its TLS setup, is built only when granted or
/// given origins to check.
pub fn registry(args: &GrantArgs) -> Result<Capabilities, Box<dyn std::error::Error + Send + Sync>> {
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
        let path = kv::default_path();
        let config = kv::KvConfig {
            max_bytes_per_tenant: args.kv_max_bytes,
            max_keys_per_tenant: args.kv_max_keys,
            ..kv::KvConfig::default()
        };
        let store =
            kv::KvStore::open_with(&path, config).map_err(|error| format!("opening {}: {error}", path.display()))?;
        capabilities.register(store.capability())?;
    }
    Ok(capabilities)
}

/// The interfaces of every built-in capability, without opening anything.
pub fn interfaces() -> Vec<Interface> {
    vec![http::interface(), kv::interface(), shop::capability().interface().clone()]
}

pub fn list() -> ExitCode {
    for interface in interfaces() {
        let summary = interface.docs.as_deref().and_then(|docs| docs.split(". ").next()).unwrap_or("");
        let methods: Vec<&str> = interface.functions.iter().map(|f| f.method.as_str()).collect();
        println!("{:8} {summary}", interface.name);
        println!("{:8} global `{}`: {}", "", interface.global, methods.join(", "));
    }
    ExitCode::from(EXIT_OK)
}

pub fn types(args: TypesArgs) -> ExitCode {
    let all = interfaces();
    let mut chosen = Vec::new();
    for grant in &args.grant {
        match all.iter().find(|interface| &interface.name == grant) {
            Some(interface) => chosen.push(interface),
            None => {
                let known: Vec<&str> = all.iter().map(|interface| interface.name.as_str()).collect();
                eprintln!("isobox: unknown capability `{grant}` (known: {})", known.join(", "));
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    if args.grant.is_empty() {
        chosen = all.iter().collect();
    }
    print!("{}", isobox_capabilities::declarations(chosen));
    ExitCode::from(EXIT_OK)
}
