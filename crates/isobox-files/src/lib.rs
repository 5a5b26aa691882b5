//! `files`: a directory a program may read and write beneath, and nothing outside it.
//!
//! Every path is opened beneath a [`cap_std::fs::Dir`] handle of the granted directory, one component at a time,
//! never following a symbolic link (`openat` with `O_NOFOLLOW`): `..`, absolute paths, symbolic links (whether the
//! host placed them or they were swapped in while a call ran), paths through a file, NUL bytes and over-long names
//! are refused, and the program's API has no way to make a link. The paths are also checked before anything is
//! opened ([`path`]), so that refusals are clear.
//!
//! Where the files are ([`FilesRoot`]):
//! - by default each tenant has a directory of its own, `<data dir>/files/<tenant>` (the data dir is the key-value
//!   store's, see [`default_dir`]), created when it is first changed; ending a temporary tenant (an MCP session)
//!   deletes it (should the process stop first, it stays: nothing expires it, unlike `kv`'s temporary tenants);
//! - an embedder may grant a directory of its choice ([`FilesRoot::Shared`], `--files-root DIR`): every tenant sees
//!   that one directory, as it is. That is what handing an agent a dataset or a repository means; an embedder that
//!   wants one directory per tenant under its own root uses [`FilesRoot::PerTenant`] with that root.
//!
//! Quotas ([`FilesConfig`]) bound the bytes of the files and the number of entries in each tenant's directory (in a
//! shared directory, of the whole directory), and the bytes of each read and write. Usage is counted by walking the
//! directory when a tenant first changes something in this process, then kept up to date by every change. Changes to
//! one directory take a mutex of its own, in this process, for their whole duration: concurrent sandboxes of one
//! tenant change its files one at a time and the usage stays exact. Several processes writing one directory at once
//! are not coordinated: each keeps its own count (the files themselves stay whole, as every write is a rename).
//!
//! File I/O is blocking: every call runs on tokio's blocking pool, never on the runtime's async threads.

pub mod path;
mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use isobox_capabilities::{CallContext, CallError, Capability, Interface, TenantState};
pub(crate) use isobox_core::sync::lock;
use tokio::sync::oneshot;

pub use store::{DirEntry, FileInfo, FileKind};

const WIT: &str = include_str!("../../../wit/files.wit");

/// The most entries [`Files::list`] returns, and its default.
pub const MAX_LIST: u32 = 1000;

/// Where the files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilesRoot {
    /// Each tenant has the directory `<this>/<tenant>` (a tenant name starting with `.` is stored as `%2E…`, so that
    /// `..` is a tenant like any other). This directory is created if missing, readable by its owner only.
    PerTenant(PathBuf),
    /// Every tenant sees this one directory (which must exist): a dataset, a repository or a workspace the embedder
    /// hands out. Quotas count the whole directory.
    Shared(PathBuf),
}

/// Where the files are and how much they may hold.
#[derive(Clone, Debug)]
pub struct FilesConfig {
    /// Default: [`FilesRoot::PerTenant`] of [`default_dir`].
    pub root: FilesRoot,
    /// Refuse every change (write, append, remove, mkdir). Default false.
    pub read_only: bool,
    /// Bytes of files a tenant's directory (a shared directory: the whole directory) may hold. Default 64 MiB.
    pub max_bytes_per_tenant: u64,
    /// Files, directories and other entries a tenant's directory may hold. Default 10,000.
    pub max_entries_per_tenant: u64,
    /// Bytes one read returns. Default 512 KiB, so that a whole read fits in a host call's result under the default
    /// limit of 1 MiB (`Limits::host_call_bytes`) even as base64; raise both together.
    pub max_read_bytes: u32,
    /// Bytes one write or append stores. Default 512 KiB, as for reads.
    pub max_write_bytes: u32,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            root: FilesRoot::PerTenant(default_dir()),
            read_only: false,
            max_bytes_per_tenant: 64 << 20,
            max_entries_per_tenant: 10_000,
            max_read_bytes: 512 << 10,
            max_write_bytes: 512 << 10,
        }
    }
}

/// What a tenant's directory holds, as the quotas count it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilesUsage {
    /// Bytes of the regular files.
    pub bytes: u64,
    /// Files, directories and other entries, at every depth (the directory itself is not counted).
    pub entries: u64,
}

/// The files could not be set up (a root that is missing, not a directory, or not private enough).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FilesError(String);

/// The `files` interface, as declared in `wit/files.wit`.
///
/// # Panics
/// Never: the WIT is part of this crate and its tests parse it.
pub fn interface() -> Interface {
    Capability::from_wit("wit/files.wit", WIT, "files").expect("wit/files.wit declares `files`").interface().clone()
}

/// `files` in isobox's data dir, beside the key-value store ([`isobox_core::private_dir::data_dir`]:
/// `$ISOBOX_DATA_DIR/files`, else `~/.local/share/isobox/files`, …).
pub fn default_dir() -> PathBuf {
    isobox_core::private_dir::data_dir().join("files")
}

/// The files behind the `files` capability. Cheap to clone; every clone shares the directory handle and the usage
/// counts.
#[derive(Clone)]
pub struct Files {
    inner: Arc<store::Store>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Files {
    /// Opens the root of `config`: a [`FilesRoot::PerTenant`] root is created if missing (mode 0700) and must be this
    /// user's own; a [`FilesRoot::Shared`] root must exist. Nothing beneath it is read yet.
    ///
    /// # Errors
    /// The root cannot be created or opened, is not a directory, or (per tenant) is not private to this user.
    pub fn open(config: FilesConfig) -> Result<Self, FilesError> {
        let (path, shared) = match &config.root {
            FilesRoot::PerTenant(path) => {
                isobox_core::private_dir::ensure(path)
                    .map_err(|error| FilesError(format!("the files directory {}: {error}", path.display())))?;
                (path, false)
            }
            FilesRoot::Shared(path) => (path, true),
        };
        let root = Dir::open_ambient_dir(path, ambient_authority())
            .map_err(|error| FilesError(format!("opening the files directory {}: {error}", path.display())))?;
        Ok(Self { inner: Arc::new(store::Store::new(root, shared, config)) })
    }

    /// The configuration these files were opened with.
    pub fn config(&self) -> &FilesConfig {
        &self.inner.config
    }

    /// The `files` capability over these files. Per tenant, its tenant state is these files: ending a tenant deletes
    /// its directory. A shared directory is never deleted.
    pub fn capability(&self) -> Capability {
        let capability = Capability::new(interface());
        let capability =
            if self.inner.shared { capability } else { capability.with_tenant_state(Arc::new(self.clone())) };
        let files = self.clone();
        let on = move || files.clone();
        let [read, read_bytes, write, write_bytes, append, list, stat, remove, mkdir] = [(); 9].map(|()| on());
        capability
            .func("read", move |ctx: CallContext, (path,): (String,)| {
                let files = read.clone();
                async move { files.read(&ctx.tenant, &path).await }
            })
            .func("read-bytes", move |ctx: CallContext, (path, offset, length): (String, Option<u64>, Option<u32>)| {
                let files = read_bytes.clone();
                async move {
                    let bytes = files.read_bytes(&ctx.tenant, &path, offset.unwrap_or(0), length).await?;
                    Ok::<_, CallError>(BASE64.encode(bytes))
                }
            })
            .func("write", move |ctx: CallContext, (path, text): (String, String)| {
                let files = write.clone();
                async move { files.write(&ctx.tenant, &path, text.into_bytes()).await }
            })
            .func("write-bytes", move |ctx: CallContext, (path, base64): (String, String)| {
                let files = write_bytes.clone();
                async move {
                    let bytes = files.decode(&base64)?;
                    files.write(&ctx.tenant, &path, bytes).await
                }
            })
            .func("append", move |ctx: CallContext, (path, text): (String, String)| {
                let files = append.clone();
                async move { files.append(&ctx.tenant, &path, text.into_bytes()).await }
            })
            .func("list", move |ctx: CallContext, (path, limit): (String, Option<u32>)| {
                let files = list.clone();
                async move { files.list(&ctx.tenant, &path, limit).await }
            })
            .func("stat", move |ctx: CallContext, (path,): (String,)| {
                let files = stat.clone();
                async move { files.stat(&ctx.tenant, &path).await }
            })
            .func("remove", move |ctx: CallContext, (path, recursive): (String, Option<bool>)| {
                let files = remove.clone();
                async move { files.remove(&ctx.tenant, &path, recursive.unwrap_or(false)).await }
            })
            .func("mkdir", move |ctx: CallContext, (path,): (String,)| {
                let files = mkdir.clone();
                async move { files.mkdir(&ctx.tenant, &path).await }
            })
    }

    /// The whole file at `path` of `tenant`'s directory, as text.
    ///
    /// # Errors
    /// The path is refused or missing, is not a file, is larger than [`FilesConfig::max_read_bytes`], or is not UTF-8.
    pub async fn read(&self, tenant: &str, path: &str) -> Result<String, CallError> {
        let (tenant, path) = (tenant.to_string(), path.to_string());
        self.blocking(move |store, _| store.read_text(&tenant, &path)).await
    }

    /// At most `length` bytes (default and at most [`FilesConfig::max_read_bytes`]) of the file at `path`, from byte
    /// `offset`; fewer at its end.
    ///
    /// # Errors
    /// The path is refused or missing, or is not a file.
    pub async fn read_bytes(
        &self,
        tenant: &str,
        path: &str,
        offset: u64,
        length: Option<u32>,
    ) -> Result<Vec<u8>, CallError> {
        let (tenant, path) = (tenant.to_string(), path.to_string());
        self.blocking(move |store, _| store.read_bytes(&tenant, &path, offset, length)).await
    }

    /// Creates or replaces the file at `path` with `bytes`, atomically: written to a temporary file in the same
    /// directory, then renamed over it. If the caller stops waiting (its request ended) before the rename, nothing is
    /// written.
    ///
    /// # Errors
    /// Read-only, the path is refused, its directory is missing, it names a directory or a symbolic link, `bytes` are
    /// over [`FilesConfig::max_write_bytes`], a quota would be exceeded, or the write failed.
    pub async fn write(&self, tenant: &str, path: &str, bytes: Vec<u8>) -> Result<(), CallError> {
        let (tenant, path) = (tenant.to_string(), path.to_string());
        self.blocking(move |store, waiting| store.write(&tenant, &path, &bytes, waiting)).await
    }

    /// Adds `bytes` to the end of the file at `path`, creating it if missing. Should the write fail part-way, the file
    /// is cut back to its old length.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub async fn append(&self, tenant: &str, path: &str, bytes: Vec<u8>) -> Result<(), CallError> {
        let (tenant, path) = (tenant.to_string(), path.to_string());
        self.blocking(move |store, waiting| store.append(&tenant, &path, &bytes, waiting)).await
    }

    /// The entries of the directory at `path`, by name (byte order), at most `limit` (default and at most
    /// [`MAX_LIST`]). Names that are not UTF-8 (which a program could not name) and temporary files are left out.
    ///
    /// # Errors
    /// The path is refused, missing or not a directory.
    pub async fn list(&self, tenant: &str, path: &str, limit: Option<u32>) -> Result<Vec<DirEntry>, CallError> {
        let (tenant, path) = (tenant.to_string(), path.to_string());
        let limit = limit.unwrap_or(MAX_LIST).min(MAX_LIST);
        self.blocking(move |store, _| store.list(&tenant, &path, limit)).await
    }

    /// What `path` is, or `None` if nothing is there (or a directory above it is missing).
    ///
    /// # Errors
    /// The path is refused, or goes through a file or a symbolic link.
    pub async fn stat(&self, tenant: &str, path: &str) -> Result<Option<FileInfo>, CallError> {
        let (tenant, path) = (tenant.to_string(), path.to_string());
        self.blocking(move |store, _| store.stat(&tenant, &path)).await
    }

    /// Removes the file, symbolic link or empty directory at `path` (a directory with entries too, with `recursive`;
    /// links inside are removed, never followed). True if something was removed.
    ///
    /// # Errors
    /// Read-only, the path is refused or is the top directory, or a directory is not empty and `recursive` is false.
    pub async fn remove(&self, tenant: &str, path: &str, recursive: bool) -> Result<bool, CallError> {
        let (tenant, path) = (tenant.to_string(), path.to_string());
        self.blocking(move |store, waiting| store.remove(&tenant, &path, recursive, waiting)).await
    }

    /// Creates the directory at `path` and the missing ones above it. True if it created any.
    ///
    /// # Errors
    /// Read-only, the path is refused, something on it is a file or a link, or the entries quota would be exceeded.
    pub async fn mkdir(&self, tenant: &str, path: &str) -> Result<bool, CallError> {
        let (tenant, path) = (tenant.to_string(), path.to_string());
        self.blocking(move |store, waiting| store.mkdir(&tenant, &path, waiting)).await
    }

    /// What `tenant`'s directory holds, as the quotas count it (walking it, the first time in this process). Blocks on
    /// file I/O.
    ///
    /// # Errors
    /// The directory cannot be read.
    pub fn usage(&self, tenant: &str) -> Result<FilesUsage, FilesError> {
        self.inner.usage(tenant).map_err(|error| FilesError(error.message))
    }

    /// `base64` decoded, within the write limit.
    fn decode(&self, base64: &str) -> Result<Vec<u8>, CallError> {
        let limit = self.inner.config.max_write_bytes as usize;
        // Checked before decoding, so that an oversized argument costs no allocation of its own.
        if base64.len() / 4 * 3 > limit + 3 {
            return Err(self.inner.too_large_to_write(base64.len() / 4 * 3));
        }
        BASE64.decode(base64.trim_end()).map_err(|error| CallError::new(format!("files: not valid base64: {error}")))
    }

    /// Runs `operation` on tokio's blocking pool and waits for it. `waiting()` tells the operation whether its caller
    /// still waits: a host call's future is dropped when its request ends, and a change must not be made for a
    /// request that has gone.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&store::Store, &dyn Fn() -> bool) -> Result<T, CallError> + Send + 'static,
    ) -> Result<T, CallError> {
        let (reply, answer) = oneshot::channel();
        let store = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            if reply.is_closed() {
                return;
            }
            let result = operation(&store, &|| !reply.is_closed());
            let _ = reply.send(result);
        });
        answer.await.map_err(|_| CallError::new("files: the operation stopped"))?
    }
}

impl TenantState for Files {
    fn begin_temporary(&self, _tenant: &str) -> Result<(), String> {
        // Nothing to do until the tenant writes: its directory is made then.
        Ok(())
    }

    fn end(&self, tenant: &str) -> Result<(), String> {
        self.inner.delete_tenant(tenant).map_err(|error| error.message)
    }
}

/// Per directory (a tenant's, or the shared one): its usage, once counted, behind the mutex every change takes.
pub(crate) type Spaces = Mutex<HashMap<String, Arc<Mutex<Option<FilesUsage>>>>>;
