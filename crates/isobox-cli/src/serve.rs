//! `isobox serve`: an HTTP service and a remote MCP server for the tenants of an `isobox.toml`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use isobox_capabilities::Capabilities;
use isobox_connectors::Config;
use isobox_core::approval::PendingRuns;
use isobox_http::{HttpClient, HttpConfig};
use isobox_kv as kv;
use isobox_serve::{Readiness, Server};
use isobox_shop as shop;

use crate::backends::{self, Engine, Serving};
use crate::run::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

#[derive(Args)]
pub struct ServeArgs {
    /// The `isobox.toml` declaring tenants, their keys and grants, the store, and connectors.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The address to listen on (default: `[serve] listen`, else 127.0.0.1:8080); port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The sandbox engine (default: `[serve] backend`, else wasm).
    #[arg(long, value_enum)]
    backend: Option<Engine>,
    /// Log lines as text for a person, or one JSON object per line for a log collector.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub async fn serve(args: ServeArgs) -> ExitCode {
    use std::io::IsTerminal;
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    match args.log_format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().flatten_event(true).init(),
    }
    let config = match Config::from_path(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("isobox: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match start(&args, &config).await {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn start(args: &ServeArgs, config: &Config) -> Result<(), Error> {
    if config.tenants.is_empty() {
        return Err(
            format!("{}: no [tenants.NAME] section, so no request could be served", args.config.display()).into()
        );
    }
    let engine = match (args.backend, config.serve.backend.as_deref()) {
        (Some(engine), _) => engine,
        (None, None | Some("wasm")) => Engine::Wasm,
        (None, Some("v8")) => Engine::V8,
        (None, Some(other)) => return Err(format!("[serve] backend = `{other}`: use `wasm` or `v8`").into()),
    };
    let (capabilities, readiness, store) = set_up(config).await?;
    let backend = backends::start(engine, &capabilities, Serving::Many(config.serve.max_sandboxes))?;
    // Runs that stop for approval are kept in the store: they survive a restart and any replica can continue them.
    let pending: Option<Arc<dyn PendingRuns>> = match (capabilities.any_needs_approval(), store) {
        (false, _) => None,
        (true, Some(store)) => Some(Arc::new(store)),
        (true, None) => Some(Arc::new(open_store(config, kv::KvConfig::default()).await?)),
    };
    let mut server = Server::with_pending_runs(backend, &capabilities, config, pending)?;
    if let Some(readiness) = readiness {
        server = server.with_readiness(readiness);
    }
    let listen = args.listen.as_deref().or(config.serve.listen.as_deref()).unwrap_or("127.0.0.1:8080");
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|error| format!("listening on {listen}: {error}"))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, backend = engine.name(), tenants = config.tenants.len(), "listening");
    server.serve(listener, stop_signal(), config.serve.drain_timeout()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The capabilities the tenants may be granted: the built-ins and the connectors any tenant names, `kv` on the
/// configured store, `files` on the directory of `[files]`, and `http` reaching, for each tenant, its own `origins`,
/// with the functions `require-approval` names marked. With the store's readiness check, and the store when it was
/// opened.
async fn set_up(config: &Config) -> Result<(Capabilities, Option<Readiness>, Option<kv::KvStore>), Error> {
    let granted = |name: &str| config.tenants.values().any(|tenant| tenant.grants.iter().any(|grant| grant == name));
    let mut capabilities = Capabilities::new();
    capabilities.register(shop::capability())?;
    let mut readiness = None;
    let mut opened = None;
    if granted("kv") {
        let defaults = kv::KvConfig::default();
        let kv_config = kv::KvConfig {
            max_bytes_per_tenant: config.store.max_bytes_per_tenant.unwrap_or(defaults.max_bytes_per_tenant),
            max_keys_per_tenant: config.store.max_keys_per_tenant.unwrap_or(defaults.max_keys_per_tenant),
            ..defaults
        };
        let store = open_store(config, kv_config).await?;
        capabilities.register(store.capability())?;
        opened = Some(store.clone());
        let check = store.clone();
        readiness = Some(Arc::new(move || {
            let store = check.clone();
            Box::pin(async move { store.ping().await.map_err(|error| error.to_string()) })
                as std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        }) as Readiness);
    }
    if granted("files") {
        let files = crate::capabilities::open_files(config.files.root.clone(), config.files.read_only)?;
        capabilities.register(files.capability())?;
    }
    if granted("http") {
        let mut clients = HashMap::new();
        for (name, tenant) in &config.tenants {
            let http = HttpConfig { allowed_origins: tenant.origins.clone(), ..HttpConfig::default() };
            let client = HttpClient::new(&http).map_err(|error| format!("tenant `{name}`: {error}"))?;
            clients.insert(name.clone(), client);
        }
        capabilities.register(HttpClient::per_tenant(clients))?;
    }
    let loaded = isobox_connectors::load(config, granted).await;
    if let Some(error) = loaded.errors.into_iter().next() {
        return Err(error.into());
    }
    for connector in loaded.capabilities {
        capabilities.register_renaming(connector)?;
    }
    let mut known = crate::capabilities::BUILT_INS.to_vec();
    known.extend(config.connectors.keys().map(String::as_str));
    let gated = crate::capabilities::approval_names(&config.require_approval, &known)?;
    crate::capabilities::mark_approvals(&mut capabilities, &gated)?;
    Ok((capabilities, readiness, opened))
}

/// The `kv` store of `[store]`: PostgreSQL, shared by replicas, or a redb file for one process.
async fn open_store(config: &Config, kv_config: kv::KvConfig) -> Result<kv::KvStore, Error> {
    if let Some(url) = &config.store.postgres {
        let url = isobox_connectors::expand_env(url).map_err(|error| format!("[store] postgres: {error}"))?;
        let store = kv::KvStore::connect_postgres(&url, kv_config).await?;
        tracing::info!("kv store: PostgreSQL");
        return Ok(store);
    }
    let path = config.store.path.clone().unwrap_or_else(kv::default_path);
    let store = kv::KvStore::open_with(&path, kv_config)?;
    tracing::info!(path = %path.display(), "kv store: redb");
    Ok(store)
}

/// SIGTERM (how orchestrators stop a process) or Ctrl-C.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(terminate) => terminate,
            Err(error) => {
                tracing::warn!("SIGTERM cannot be caught ({error}); only Ctrl-C stops the server gracefully");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
