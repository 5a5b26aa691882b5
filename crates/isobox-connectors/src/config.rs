//! `isobox.toml`: the connectors a host offers, each becoming a grantable capability of its name.
//!
//! ```toml
//! [connectors.github]
//! openapi = "specs/api.github.com.json"        # OpenAPI 3.0 or 3.1, JSON or YAML; relative to this file
//! base-url = "https://api.github.com"          # optional: else the document's first server
//! headers = { Authorization = "Bearer ${GITHUB_TOKEN}" }   # ${VAR} from the host's environment
//!
//! require-approval-writes = true              # optional: every operation but GET, HEAD and OPTIONS stops a run
//!                                              # until a person approves the call (see `isobox run --approve`)
//!
//! [connectors.memory]
//! mcp = { command = "npx", args = ["-y", "@modelcontextprotocol/server-memory"] }   # a stdio upstream
//!
//! [connectors.tracker]
//! mcp = { url = "http://127.0.0.1:8931/mcp", headers = { Authorization = "Bearer ${TRACKER_TOKEN}" } }
//! ```
//!
//! A connector's `require-approval = ["createIssue"]` (methods, as a program calls them) marks calls that need a
//! person's approval; so does the top-level `require-approval = ["kv.set"]` for any capability, built-ins included.
//!
//! Header values and an MCP server's environment may name host environment variables as `${VAR}`: they are read when
//! the file is loaded, stay on the host, and never reach a sandbox.
//!
//! The `files` capability's directory is set in `[files]`:
//!
//! ```toml
//! [files]
//! root = "datasets/sales"      # relative to this file; every tenant sees this one directory
//! read-only = true             # refuse every change (default false)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::serving::{ServeConfig, StoreConfig, TenantConfig};

/// The largest `isobox.toml` read, in bytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A whole `isobox.toml`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Connectors by name; the name is the grant (`--grant github`) and, camel-cased, the sandbox global.
    #[serde(default)]
    pub connectors: BTreeMap<String, ConnectorConfig>,
    /// How `isobox serve` listens and runs programs.
    #[serde(default)]
    pub serve: ServeConfig,
    /// Where state that outlives a request lives, for `isobox serve`.
    #[serde(default)]
    pub store: StoreConfig,
    /// Who may call `isobox serve`, by tenant name (the tenant whose `kv` data a request sees).
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Functions of any capability whose calls need a person's approval, as `capability.method` (`kv.set`): a program
    /// stops before such a call until it is approved or denied. Default: none.
    #[serde(default)]
    pub require_approval: Vec<String>,
    /// The directory the `files` capability grants.
    #[serde(default)]
    pub files: FilesSection,
}

/// `[files]`: the directory the `files` capability grants. Without `root`, each tenant has a directory of its own in
/// isobox's data dir.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FilesSection {
    /// A directory every tenant sees, as it is (a dataset, a repository, a workspace), relative to the configuration
    /// file; it must exist. Default (`None`): each tenant has a directory of its own in isobox's data dir.
    pub root: Option<PathBuf>,
    /// Refuse every change (write, append, remove, mkdir). Default: `false`.
    #[serde(default)]
    pub read_only: bool,
}

/// One connector: an OpenAPI document or an MCP server.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConnectorConfig {
    /// An OpenAPI 3.0 or 3.1 document (JSON or YAML), relative to the configuration file. Exactly one of this and
    /// [`mcp`](Self::mcp) must be set.
    pub openapi: Option<PathBuf>,
    /// The server requests go to (OpenAPI only); default: the document's first `servers` entry.
    pub base_url: Option<String>,
    /// Headers the host adds to every request (OpenAPI only), typically credentials; `${VAR}` in a value is read from
    /// the host's environment. A program can neither read nor replace them. Default: none.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// An MCP server to connect to, instead of an OpenAPI document.
    pub mcp: Option<McpServerConfig>,
    /// Let a base URL given by name resolve to private, loopback and link-local addresses (OpenAPI only; an address
    /// given as a literal IP is reached either way). Default: `false`.
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// Time for one upstream call, in milliseconds (default 10,000).
    pub timeout_ms: Option<u64>,
    /// The largest upstream response, in bytes (default 1 MiB).
    pub max_response_bytes: Option<usize>,
    /// Methods of this connector (as a program calls them, or an MCP tool's name) whose calls need a person's approval.
    /// Default: none.
    #[serde(default)]
    pub require_approval: Vec<String>,
    /// Every operation but `GET`, `HEAD` and `OPTIONS` needs a person's approval (OpenAPI only). Default: `false`.
    #[serde(default)]
    pub require_approval_writes: bool,
}

/// How to reach an MCP server: a child process speaking stdio, or a Streamable HTTP endpoint.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "`{ command, args?, env?, cwd? }` (a server started as a child process, speaking stdio) or \
                 `{ url, headers? }` (a server reached over Streamable HTTP)"
)]
pub enum McpServerConfig {
    /// A server started by isobox as a child process, speaking MCP over its standard input and output.
    Stdio {
        /// The program to run, such as `npx`; a bare name is looked up in `PATH`.
        command: String,
        /// Arguments given to the command. Default: none.
        #[serde(default)]
        args: Vec<String>,
        /// Variables set for the child, on top of a minimal environment (`PATH`, `HOME`); `${VAR}` in a value is read
        /// from the host's environment. Default: none.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// The child's working directory, relative to the configuration file. Default (`None`): the host's current
        /// directory.
        cwd: Option<PathBuf>,
    },
    /// A server already running, reached over MCP's Streamable HTTP transport.
    Http {
        /// The endpoint, such as `http://127.0.0.1:3001/mcp`.
        url: String,
        /// Headers sent with every request, typically credentials; `${VAR}` in a value is read from the host's
        /// environment. Default: none.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

/// A configuration that cannot be used, naming where it is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read or parsed, or a section other than a connector is invalid (tenants,
    /// store, `require-approval`).
    #[error("{path}: {message}")]
    File {
        /// The configuration file (`isobox.toml` when it was given as text rather than read from a path).
        path: PathBuf,
        /// What is wrong; a parse error gives its line and column.
        message: String,
    },
    /// One connector cannot be loaded; the others are not affected.
    #[error("connector `{connector}`: {message}")]
    Connector {
        /// The connector's name, as in the configuration (`?` when it is not known).
        connector: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn connector(connector: &str, message: impl Into<String>) -> Self {
        Self::Connector { connector: connector.to_string(), message: message.into() }
    }
}

impl Config {
    /// Reads `path`. Relative paths in it (OpenAPI documents, working directories) are made relative to the file's
    /// directory; `${VAR}`s are expanded when a connector is loaded (see [`expand_env`]).
    ///
    /// # Errors
    /// An unreadable file, one larger than [`MAX_CONFIG_BYTES`], TOML that does not parse or has unknown keys, a
    /// connector name that is not a capability name, a connector that is neither or both of `openapi` and `mcp`, a
    /// `require-approval` entry that is not `capability.method`, or invalid tenants or store (a tenant's name, keys or
    /// limits, or a store with both `path` and `postgres`).
    pub fn from_path(path: &Path) -> Result<Self, ConfigError> {
        let file_error = |message: String| ConfigError::File { path: path.to_path_buf(), message };
        let size = std::fs::metadata(path).map_err(|error| file_error(error.to_string()))?.len();
        if size > MAX_CONFIG_BYTES {
            return Err(file_error(format!("larger than {MAX_CONFIG_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|error| file_error(error.to_string()))?;
        let mut config = Self::from_toml(&text).map_err(|error| match error {
            ConfigError::File { message, .. } => file_error(message),
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(store) = &mut config.store.path {
            *store = base.join(&*store);
        }
        if let Some(root) = &mut config.files.root {
            *root = base.join(&*root);
        }
        for connector in config.connectors.values_mut() {
            if let Some(openapi) = &mut connector.openapi {
                *openapi = base.join(&*openapi);
            }
            if let Some(McpServerConfig::Stdio { cwd: Some(cwd), .. }) = &mut connector.mcp {
                *cwd = base.join(&*cwd);
            }
        }
        Ok(config)
    }

    /// Parses the text of an `isobox.toml`; relative paths stay as written.
    ///
    /// # Errors
    /// As [`from_path`](Self::from_path), without the file's own errors.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)
            .map_err(|error| ConfigError::File { path: PathBuf::from("isobox.toml"), message: error.to_string() })?;
        for (name, connector) in &config.connectors {
            check_name(name).map_err(|message| ConfigError::connector(name, message))?;
            match (&connector.openapi, &connector.mcp) {
                (Some(_), None) | (None, Some(_)) => {}
                (None, None) => return Err(ConfigError::connector(name, "give either `openapi` or `mcp`")),
                (Some(_), Some(_)) => return Err(ConfigError::connector(name, "give `openapi` or `mcp`, not both")),
            }
            if connector.mcp.is_some()
                && (connector.base_url.is_some()
                    || !connector.headers.is_empty()
                    || connector.allow_private_addresses
                    || connector.require_approval_writes)
            {
                return Err(ConfigError::connector(
                    name,
                    "`base-url`, `headers`, `allow-private-addresses` and `require-approval-writes` are for `openapi` \
                     connectors (an MCP server over HTTP takes its headers in `mcp = { url, headers }`; mark an MCP \
                     server's tools with `require-approval`)",
                ));
            }
        }
        for name in &config.require_approval {
            if !name.split_once('.').is_some_and(|(capability, method)| !capability.is_empty() && !method.is_empty()) {
                return Err(ConfigError::File {
                    path: PathBuf::from("isobox.toml"),
                    message: format!(
                        "`require-approval` takes `capability.method` names (such as `kv.set`), got {name:?}"
                    ),
                });
            }
        }
        crate::serving::check(&config.tenants, &config.store)
            .map_err(|message| ConfigError::File { path: PathBuf::from("isobox.toml"), message })?;
        Ok(config)
    }
}

impl ConnectorConfig {
    /// The time one upstream call may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(10_000))
    }

    /// The largest upstream response, in bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes.unwrap_or(1 << 20)
    }
}

/// A connector's name becomes a grant and a global: letters, digits and `-`, starting with a letter, as WIT names.
fn check_name(name: &str) -> Result<(), String> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err("a connector's name must be 1 to 64 lowercase letters, digits and single inner `-`, starting with a \
             letter (such as `github` or `issue-tracker`)"
            .into())
    }
}

/// `text` with each `${VAR}` replaced by the host environment's `VAR`.
///
/// # Errors
/// A variable that is not set (or not Unicode), or a `${` without its `}`.
pub fn expand_env(text: &str) -> Result<String, String> {
    expand_with(text, |name| std::env::var(name).ok())
}

fn expand_with(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("`${{` without its `}}` in `{text}`"))?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{name}}}` is not an environment variable's name"));
        }
        out.push_str(&lookup(name).ok_or_else(|| format!("the environment variable `{name}` is not set"))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses() {
        let config = Config::from_toml(
            r#"
            [connectors.github]
            openapi = "specs/api.github.com.json"
            base-url = "https://api.github.com"
            headers = { Authorization = "Bearer ${GITHUB_TOKEN}" }

            [connectors.memory]
            mcp = { command = "npx", args = ["-y", "@modelcontextprotocol/server-memory"] }

            [connectors.tracker]
            mcp = { url = "http://127.0.0.1:8931/mcp", headers = { Authorization = "Bearer ${TRACKER_TOKEN}" } }
            "#,
        )
        .unwrap();
        assert_eq!(config.connectors.len(), 3);
        assert_eq!(config.connectors["github"].headers["Authorization"], "Bearer ${GITHUB_TOKEN}");
        assert!(
            matches!(config.connectors["memory"].mcp, Some(McpServerConfig::Stdio { ref args, .. }) if args.len() == 2)
        );
        assert!(
            matches!(config.connectors["tracker"].mcp, Some(McpServerConfig::Http { ref url, .. }) if url.ends_with("/mcp"))
        );
    }

    #[test]
    fn mistakes_are_named() {
        let error = |text: &str| Config::from_toml(text).unwrap_err().to_string();
        assert!(
            error("[connectors.x]\nopenapi = 1").contains("invalid type"),
            "{}",
            error("[connectors.x]\nopenapi = 1")
        );
        assert!(error("[connectors.x]\nopenapi = \"a\"\nbase_url = \"b\"").contains("unknown field"));
        assert_eq!(error("[connectors.x]"), "connector `x`: give either `openapi` or `mcp`");
        assert!(error("[connectors.Git_Hub]\nopenapi = \"a\"").starts_with("connector `Git_Hub`: a connector's name"));
        assert!(error("[connectors.x]\nopenapi = \"a\"\nmcp = { command = \"c\" }").contains("not both"));
        assert!(error("[connectors.x]\nmcp = { command = \"c\" }\nheaders = { a = \"b\" }").contains("for `openapi`"));
        let misspelt = error("[connectors.x]\nmcp = { comand = \"c\" }");
        assert!(misspelt.contains("line 2") && misspelt.contains("{ command, args?"), "{misspelt}");
        assert!(error("nonsense").contains("isobox.toml"));
    }

    #[test]
    fn environment_variables_are_expanded_and_missing_ones_named() {
        let lookup = |name: &str| (name == "TOKEN").then(|| "s3cret".to_string());
        assert_eq!(expand_with("Bearer ${TOKEN}!", lookup).unwrap(), "Bearer s3cret!");
        assert_eq!(expand_with("no variables", lookup).unwrap(), "no variables");
        assert_eq!(expand_with("${MISSING}", lookup).unwrap_err(), "the environment variable `MISSING` is not set");
        assert!(expand_with("${TOKEN", lookup).unwrap_err().contains("without its"));
        assert!(expand_with("${A B}", lookup).unwrap_err().contains("not an environment variable"));
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("isobox.toml");
        std::fs::write(&path, "[connectors.api]\nopenapi = \"specs/api.json\"\n").unwrap();
        let config = Config::from_path(&path).unwrap();
        assert_eq!(config.connectors["api"].openapi.as_deref(), Some(dir.path().join("specs/api.json").as_path()));
        let missing = Config::from_path(&dir.path().join("nope.toml")).unwrap_err().to_string();
        assert!(missing.contains("nope.toml"), "{missing}");
    }

    #[test]
    fn the_files_section_takes_a_root_relative_to_the_file_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("isobox.toml");
        std::fs::write(&path, "[files]\nroot = \"data\"\nread-only = true\n").unwrap();
        let config = Config::from_path(&path).unwrap();
        assert_eq!(config.files, FilesSection { root: Some(dir.path().join("data")), read_only: true });
        assert_eq!(Config::from_toml("").unwrap().files, FilesSection::default());
        let error = Config::from_toml("[files]\nroot = \"a\"\nreadonly = true").unwrap_err().to_string();
        assert!(error.contains("unknown field `readonly`"), "{error}");
    }
}
