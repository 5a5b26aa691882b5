//! The blocking file operations behind [`Files`](crate::Files), each beneath the directory handle of one tenant.
//!
//! A path is opened one directory at a time with `open_dir_nofollow` (`O_NOFOLLOW | O_DIRECTORY` relative to the
//! directory before), so a symbolic link anywhere on it is refused, including one swapped in while a call runs; its
//! last name is then used relative to its directory, never following a link either (`O_NOFOLLOW`, `lstat`, `unlink`,
//! `rename`). Every change holds its directory's mutex from the quota check to the last write.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, File, Metadata, OpenOptions, OpenOptionsExt};
use isobox_capabilities::CallError;
use serde::Serialize;

use crate::path::{self, TEMP_PREFIX, components, shown};
use crate::{FilesConfig, FilesUsage, Spaces, lock};

/// How many entries of one directory `list` and `stat` read at most: a directory the host placed may be huge, and
/// listing sorts the names.
const MAX_DIRECTORY_SCAN: usize = 1_000_000;
/// How deep the usage count and a recursive removal descend: deeper than any path a program can name (they walk
/// trees the host may have made).
const MAX_WALK_DEPTH: usize = 4 * path::MAX_DEPTH;

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link: listed, never followed.
    Symlink,
    /// A socket, a FIFO, a device.
    Other,
}

/// One entry of a directory, as [`Files::list`](crate::Files::list) returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirEntry {
    /// The entry's name in its directory (not a whole path).
    pub name: String,
    /// What it is (a link is not followed to say what it points at).
    pub kind: FileKind,
    /// Bytes, for a file; 0 otherwise.
    pub size: u64,
}

/// What [`Files::stat`](crate::Files::stat) tells about a path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// What the path names (a link is not followed).
    pub kind: FileKind,
    /// Bytes, for a file; entries, for a directory; 0 otherwise.
    pub size: u64,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: u64,
}

pub(crate) struct Store {
    pub(crate) config: FilesConfig,
    /// Every tenant uses `root` itself, rather than a directory of its own in it.
    pub(crate) shared: bool,
    root: Dir,
    spaces: Spaces,
    /// Numbers temporary files, with the process id, so that two writes never pick one name.
    next_temp: AtomicU64,
}

impl Store {
    pub(crate) fn new(root: Dir, shared: bool, config: FilesConfig) -> Self {
        Self { config, shared, root, spaces: Mutex::default(), next_temp: AtomicU64::new(0) }
    }

    pub(crate) fn read_text(&self, tenant: &str, path: &str) -> Result<String, CallError> {
        let names = components(path)?;
        let (name, dirs) = names.split_last().ok_or_else(|| top_is_not_a_file(path))?;
        let parent = self.directory(tenant, dirs, path)?.ok_or_else(|| no_file(path))?;
        let file = open_file(&parent, name, path)?;
        let limit = u64::from(self.config.max_read_bytes);
        let too_large = |size: u64| {
            CallError::new(format!(
                "files: {} is {size} bytes, over the read limit of {limit} bytes; read it in parts with readBytes",
                shown(path)
            ))
        };
        let size = file.metadata().map_err(|error| failed(path, &error))?.len();
        if size > limit {
            return Err(too_large(size));
        }
        let mut bytes = Vec::new();
        // Bounded again while reading: the file may grow after its size was read.
        file.take(limit + 1).read_to_end(&mut bytes).map_err(|error| failed(path, &error))?;
        if bytes.len() as u64 > limit {
            return Err(too_large(bytes.len() as u64));
        }
        String::from_utf8(bytes).map_err(|_| {
            CallError::new(format!("files: {} is not UTF-8 text; read it as base64 with readBytes", shown(path)))
        })
    }

    pub(crate) fn read_bytes(
        &self,
        tenant: &str,
        path: &str,
        offset: u64,
        length: Option<u32>,
    ) -> Result<Vec<u8>, CallError> {
        let names = components(path)?;
        let (name, dirs) = names.split_last().ok_or_else(|| top_is_not_a_file(path))?;
        let parent = self.directory(tenant, dirs, path)?.ok_or_else(|| no_file(path))?;
        let mut file = open_file(&parent, name, path)?;
        let length = length.unwrap_or(self.config.max_read_bytes).min(self.config.max_read_bytes);
        file.seek(SeekFrom::Start(offset)).map_err(|error| failed(path, &error))?;
        let mut bytes = Vec::new();
        file.take(u64::from(length)).read_to_end(&mut bytes).map_err(|error| failed(path, &error))?;
        Ok(bytes)
    }

    pub(crate) fn write(
        &self,
        tenant: &str,
        path: &str,
        bytes: &[u8],
        waiting: &dyn Fn() -> bool,
    ) -> Result<(), CallError> {
        self.writable("write")?;
        self.within_write_limit(bytes.len())?;
        let names = components(path)?;
        let (name, dirs) = names.split_last().ok_or_else(|| top_is_not_a_file(path))?;
        self.change(tenant, |space, usage| {
            let parent = walk(space, dirs, path)?.ok_or_else(|| no_directory_for(dirs, path))?;
            let old = existing_file(&parent, name, path)?;
            let next = FilesUsage {
                bytes: usage.bytes - old.unwrap_or(0).min(usage.bytes) + bytes.len() as u64,
                entries: usage.entries + u64::from(old.is_none()),
            };
            self.within_quotas(*usage, next)?;
            self.replace(&parent, name, path, bytes, waiting)?;
            *usage = next;
            Ok(())
        })
    }

    /// Writes `bytes` to a temporary file in `parent`, then renames it to `name`.
    fn replace(
        &self,
        parent: &Dir,
        name: &str,
        path: &str,
        bytes: &[u8],
        waiting: &dyn Fn() -> bool,
    ) -> Result<(), CallError> {
        let temp = format!("{TEMP_PREFIX}{}-{}", std::process::id(), self.next_temp.fetch_add(1, Ordering::Relaxed));
        let written = (|| {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true).follow(FollowSymlinks::No).mode(0o644);
            let mut file = parent.open_with(&temp, &options)?;
            file.write_all(bytes)?;
            // On disk before the rename, so that a crash leaves the old file or the new, never an empty one.
            file.sync_data()
        })();
        let renamed = written.map_err(|error| failed(path, &error)).and_then(|()| {
            if !waiting() {
                return Err(not_committed());
            }
            parent.rename(&temp, parent, name).map_err(|error| failed(path, &error))
        });
        if renamed.is_err() {
            let _ = parent.remove_file(&temp);
        }
        renamed
    }

    pub(crate) fn append(
        &self,
        tenant: &str,
        path: &str,
        bytes: &[u8],
        waiting: &dyn Fn() -> bool,
    ) -> Result<(), CallError> {
        self.writable("append")?;
        self.within_write_limit(bytes.len())?;
        let names = components(path)?;
        let (name, dirs) = names.split_last().ok_or_else(|| top_is_not_a_file(path))?;
        self.change(tenant, |space, usage| {
            let parent = walk(space, dirs, path)?.ok_or_else(|| no_directory_for(dirs, path))?;
            let old = existing_file(&parent, name, path)?;
            let next = FilesUsage {
                bytes: usage.bytes + bytes.len() as u64,
                entries: usage.entries + u64::from(old.is_none()),
            };
            self.within_quotas(*usage, next)?;
            if !waiting() {
                return Err(not_committed());
            }
            let mut options = OpenOptions::new();
            options.append(true).create(true).follow(FollowSymlinks::No).custom_flags(libc::O_NONBLOCK).mode(0o644);
            let mut file = parent.open_with(name, &options).map_err(|error| classify(&parent, name, path, error))?;
            let metadata = file.metadata().map_err(|error| failed(path, &error))?;
            if !metadata.is_file() {
                return Err(not_a_file(path, &metadata));
            }
            let before = metadata.len();
            if let Err(error) = file.write_all(bytes).and_then(|()| file.sync_data()) {
                // Cut back to what it was: an append happens whole or not at all.
                let _ = file.set_len(before);
                if old.is_none() {
                    let _ = parent.remove_file(name);
                }
                return Err(failed(path, &error));
            }
            *usage = next;
            Ok(())
        })
    }

    pub(crate) fn list(&self, tenant: &str, path: &str, limit: u32) -> Result<Vec<DirEntry>, CallError> {
        let names = components(path)?;
        let Some(dir) = self.directory(tenant, &names, path)? else {
            return if names.is_empty() { Ok(Vec::new()) } else { Err(no_directory(path)) };
        };
        let mut found = Vec::new();
        for entry in dir.entries().map_err(|error| failed(path, &error))? {
            let entry = entry.map_err(|error| failed(path, &error))?;
            // A name a program could not give (not UTF-8) is left out, as are writes in progress.
            if let Ok(name) = entry.file_name().into_string()
                && !name.starts_with(TEMP_PREFIX)
            {
                found.push(name);
            }
            if found.len() > MAX_DIRECTORY_SCAN {
                return Err(CallError::new(format!(
                    "files: {} has more than {MAX_DIRECTORY_SCAN} entries, too many to list",
                    shown(path)
                )));
            }
        }
        found.sort_unstable();
        found.truncate(limit as usize);
        let mut entries = Vec::with_capacity(found.len());
        for name in found {
            // Gone since it was listed: left out.
            let Ok(metadata) = dir.symlink_metadata(&name) else { continue };
            let kind = kind(&metadata);
            let size = if kind == FileKind::File { metadata.len() } else { 0 };
            entries.push(DirEntry { name, kind, size });
        }
        Ok(entries)
    }

    pub(crate) fn stat(&self, tenant: &str, path: &str) -> Result<Option<FileInfo>, CallError> {
        let names = components(path)?;
        let (dir, metadata) = match names.split_last() {
            None => {
                let Some(dir) = self.space(tenant, false)? else {
                    // A tenant's directory is made when first written: until then it is there, and empty.
                    return Ok(Some(FileInfo { kind: FileKind::Directory, size: 0, modified_ms: 0 }));
                };
                let metadata = dir.dir_metadata().map_err(|error| failed(path, &error))?;
                (Some(dir), metadata)
            }
            Some((name, dirs)) => {
                let Some(parent) = self.directory(tenant, dirs, path)? else { return Ok(None) };
                match parent.symlink_metadata(name) {
                    Ok(metadata) if metadata.is_dir() => {
                        let dir =
                            parent.open_dir_nofollow(name).map_err(|error| classify(&parent, name, path, error))?;
                        (Some(dir), metadata)
                    }
                    Ok(metadata) => (None, metadata),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(error) => return Err(failed(path, &error)),
                }
            }
        };
        let kind = kind(&metadata);
        let size = match (&dir, kind) {
            (Some(dir), _) => {
                let mut count = 0u64;
                for entry in dir.entries().map_err(|error| failed(path, &error))?.take(MAX_DIRECTORY_SCAN) {
                    if entry.is_ok_and(|entry| !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)) {
                        count += 1;
                    }
                }
                count
            }
            (None, FileKind::File) => metadata.len(),
            (None, _) => 0,
        };
        let modified_ms = metadata
            .modified()
            .ok()
            .and_then(|modified| modified.into_std().duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_millis() as u64);
        Ok(Some(FileInfo { kind, size, modified_ms }))
    }

    pub(crate) fn remove(
        &self,
        tenant: &str,
        path: &str,
        recursive: bool,
        waiting: &dyn Fn() -> bool,
    ) -> Result<bool, CallError> {
        self.writable("remove")?;
        let names = components(path)?;
        let (name, dirs) = names
            .split_last()
            .ok_or_else(|| CallError::new("files: the top directory cannot be removed (remove its entries instead)"))?;
        self.change(tenant, |space, usage| {
            let Some(parent) = walk(space, dirs, path)? else { return Ok(false) };
            let metadata = match parent.symlink_metadata(name) {
                Ok(metadata) => metadata,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(error) => return Err(failed(path, &error)),
            };
            if !waiting() {
                return Err(not_committed());
            }
            let mut removed = FilesUsage::default();
            let result = if metadata.is_dir() {
                let emptied = match recursive {
                    true => parent.open_dir_nofollow(name).and_then(|dir| remove_entries(&dir, 0, &mut removed)),
                    false => Ok(()),
                };
                emptied.and_then(|()| parent.remove_dir(name)).map(|()| removed.entries += 1)
            } else {
                parent.remove_file_or_symlink(name).map(|()| {
                    removed.entries += 1;
                    if metadata.is_file() {
                        removed.bytes += metadata.len();
                    }
                })
            };
            // What was removed stays removed, even if the rest failed.
            *usage = FilesUsage {
                bytes: usage.bytes.saturating_sub(removed.bytes),
                entries: usage.entries.saturating_sub(removed.entries),
            };
            match result {
                Ok(()) => Ok(true),
                Err(error) if error.raw_os_error() == Some(libc::ENOTEMPTY) => Err(CallError::new(format!(
                    "files: the directory {} is not empty; remove it with `recursive: true`, or its entries first",
                    shown(path)
                ))),
                Err(error) => Err(failed(path, &error)),
            }
        })
    }

    pub(crate) fn mkdir(&self, tenant: &str, path: &str, waiting: &dyn Fn() -> bool) -> Result<bool, CallError> {
        self.writable("mkdir")?;
        let names = components(path)?;
        if names.len() > path::MAX_DEPTH {
            return Err(CallError::new(format!(
                "files: path refused: directories nest at most {} levels deep",
                path::MAX_DEPTH
            )));
        }
        self.change(tenant, |space, usage| {
            // The directories that exist, then how many are missing: the quota is checked for all of them at once.
            let mut dir = space.try_clone().map_err(|error| failed(path, &error))?;
            let mut existing = 0;
            for name in &names {
                match open_child(&dir, name, || shown(&names[..=existing].join("/")))? {
                    Some(child) => {
                        dir = child;
                        existing += 1;
                    }
                    None => break,
                }
            }
            let missing = (names.len() - existing) as u64;
            if missing == 0 {
                return Ok(false);
            }
            self.within_quotas(*usage, FilesUsage { entries: usage.entries + missing, ..*usage })?;
            if !waiting() {
                return Err(not_committed());
            }
            let mut outcome = Ok(());
            for name in &names[existing..] {
                if let Err(error) = dir.create_dir(name) {
                    outcome = Err(error);
                    break;
                }
                usage.entries += 1;
                match dir.open_dir_nofollow(name) {
                    Ok(child) => dir = child,
                    Err(error) => {
                        outcome = Err(error);
                        break;
                    }
                }
            }
            outcome.map(|()| true).map_err(|error| failed(path, &error))
        })
    }

    /// What `tenant`'s directory holds, counting it if this process has not yet.
    pub(crate) fn usage(&self, tenant: &str) -> Result<FilesUsage, CallError> {
        self.change(tenant, |_, usage| Ok(*usage))
    }

    /// Deletes `tenant`'s directory, if it has one (never a shared directory).
    pub(crate) fn delete_tenant(&self, tenant: &str) -> Result<(), CallError> {
        if self.shared {
            return Ok(());
        }
        let key = space_name(tenant);
        let mutex = self.mutex(&key);
        let mut counted = lock(&mutex);
        let Some(space) = self.space(tenant, false)? else { return Ok(()) };
        let mut removed = FilesUsage::default();
        let result = remove_entries(&space, 0, &mut removed).and_then(|()| self.root.remove_dir(&key));
        // Counted afresh when next used.
        *counted = None;
        if result.is_ok() {
            // The tenant has ended: its entry goes, so that a server making a tenant per session does not keep one
            // for each.
            lock(&self.spaces).remove(&key);
        }
        result.map_err(|error| failed_at(&format!("deleting the directory of tenant {tenant}"), &error))
    }

    /// The mutex of the directory `key`, which every change to it holds, with its usage once counted.
    fn mutex(&self, key: &str) -> Arc<Mutex<Option<FilesUsage>>> {
        Arc::clone(lock(&self.spaces).entry(key.to_string()).or_default())
    }

    /// Runs `change` on `tenant`'s directory (made if missing) and its usage (counted if this process has not yet),
    /// holding the directory's mutex throughout; `change` updates the usage by what it did.
    fn change<T>(
        &self,
        tenant: &str,
        change: impl FnOnce(&Dir, &mut FilesUsage) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let mutex = self.mutex(&if self.shared { String::new() } else { space_name(tenant) });
        let mut counted = lock(&mutex);
        let space = self.space(tenant, true)?.ok_or_else(|| CallError::new("files: the directory is missing"))?;
        let mut usage = match *counted {
            Some(usage) => usage,
            None => {
                let mut usage = FilesUsage::default();
                count(&space, 0, &mut usage)
                    .map_err(|error| failed_at("counting what the files directory holds", &error))?;
                usage
            }
        };
        let result = change(&space, &mut usage);
        *counted = Some(usage);
        result
    }

    /// The directory `names` beneath `tenant`'s directory, or `None` if it (or the tenant's directory) is missing.
    fn directory(&self, tenant: &str, names: &[&str], path: &str) -> Result<Option<Dir>, CallError> {
        match self.space(tenant, false)? {
            Some(space) => walk(&space, names, path),
            None => Ok(None),
        }
    }

    /// `tenant`'s directory (the root itself, when shared), made if missing and `create`; else `None` if missing.
    fn space(&self, tenant: &str, create: bool) -> Result<Option<Dir>, CallError> {
        if self.shared {
            return self.root.try_clone().map(Some).map_err(|error| failed_at("the files directory", &error));
        }
        isobox_capabilities::check_tenant(tenant).map_err(|message| CallError::new(format!("files: {message}")))?;
        let name = space_name(tenant);
        let shown = || format!("the directory of tenant {tenant}");
        match self.root.open_dir_nofollow(&name) {
            Ok(dir) => Ok(Some(dir)),
            Err(error) if error.kind() == io::ErrorKind::NotFound && create => {
                match self.root.create_dir(&name) {
                    Ok(()) => {}
                    Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(error) => return Err(failed_at(&shown(), &error)),
                }
                self.root.open_dir_nofollow(&name).map(Some).map_err(|error| failed_at(&shown(), &error))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(failed_at(&shown(), &error)),
        }
    }

    fn writable(&self, operation: &str) -> Result<(), CallError> {
        if self.config.read_only {
            return Err(CallError::new(format!(
                "files: the files directory is read-only here; `{operation}` changes nothing"
            )));
        }
        Ok(())
    }

    fn within_write_limit(&self, bytes: usize) -> Result<(), CallError> {
        match bytes > self.config.max_write_bytes as usize {
            true => Err(self.too_large_to_write(bytes)),
            false => Ok(()),
        }
    }

    pub(crate) fn too_large_to_write(&self, bytes: usize) -> CallError {
        CallError::new(format!(
            "files: a write is at most {} bytes, this one is {bytes}; nothing was written",
            self.config.max_write_bytes
        ))
    }

    /// Refuses a change from `usage` to `next` that grows past a quota. A change that does not grow what is over a
    /// quota (one lowered since) is allowed, so that a directory over its quota can always shrink.
    fn within_quotas(&self, usage: FilesUsage, next: FilesUsage) -> Result<(), CallError> {
        let whose = if self.shared { "the files directory" } else { "a tenant's files directory" };
        let config = &self.config;
        if next.entries > config.max_entries_per_tenant && next.entries > usage.entries {
            return Err(CallError::new(format!(
                "files quota exceeded: {whose} may hold at most {} files and directories, and it has {}; nothing was \
                 changed",
                config.max_entries_per_tenant, usage.entries
            )));
        }
        if next.bytes > config.max_bytes_per_tenant && next.bytes > usage.bytes {
            return Err(CallError::new(format!(
                "files quota exceeded: {whose} may hold at most {} bytes, and this would make it {}; nothing was \
                 changed",
                config.max_bytes_per_tenant, next.bytes
            )));
        }
        Ok(())
    }
}

/// The name of `tenant`'s directory: the tenant name, except that a leading `.` is written `%2E` (a tenant name has
/// no `%`, so no two tenants share a directory, and `.` or `..` name no other directory).
pub(crate) fn space_name(tenant: &str) -> String {
    match tenant.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None => tenant.to_string(),
    }
}

/// Opens the directories `names` beneath `dir`, one at a time, never following a link; `None` if one is missing.
fn walk(dir: &Dir, names: &[&str], path: &str) -> Result<Option<Dir>, CallError> {
    let mut dir = dir.try_clone().map_err(|error| failed(path, &error))?;
    for (depth, name) in names.iter().enumerate() {
        match open_child(&dir, name, || shown(&names[..=depth].join("/")))? {
            Some(child) => dir = child,
            None => return Ok(None),
        }
    }
    Ok(Some(dir))
}

/// The directory `name` in `dir`, or `None` if nothing is there; a link or a file there is an error.
fn open_child(dir: &Dir, name: &str, shown: impl Fn() -> String) -> Result<Option<Dir>, CallError> {
    match dir.open_dir_nofollow(name) {
        Ok(child) => Ok(Some(child)),
        Err(error) => match dir.symlink_metadata(name) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Ok(metadata) if metadata.is_symlink() => Err(symlink(&shown())),
            Ok(metadata) if !metadata.is_dir() => Err(CallError::new(format!("files: {} is not a directory", shown()))),
            _ => Err(CallError::new(format!("files: {}: {error}", shown()))),
        },
    }
}

/// Opens the file `name` of `parent` for reading: a regular file, not a link (and without waiting on a FIFO).
fn open_file(parent: &Dir, name: &str, path: &str) -> Result<File, CallError> {
    let mut options = OpenOptions::new();
    options.read(true).follow(FollowSymlinks::No).custom_flags(libc::O_NONBLOCK);
    let file = parent.open_with(name, &options).map_err(|error| classify(parent, name, path, error))?;
    let metadata = file.metadata().map_err(|error| failed(path, &error))?;
    if !metadata.is_file() {
        return Err(not_a_file(path, &metadata));
    }
    Ok(file)
}

/// The size of the file `name` in `parent`, `None` if nothing is there; anything but a file there is an error.
fn existing_file(parent: &Dir, name: &str, path: &str) -> Result<Option<u64>, CallError> {
    match parent.symlink_metadata(name) {
        Ok(metadata) if metadata.is_file() => Ok(Some(metadata.len())),
        Ok(metadata) => Err(not_a_file(path, &metadata)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(failed(path, &error)),
    }
}

/// An error opening `name` in `parent`, explained: missing, a link, or what the system said.
fn classify(parent: &Dir, name: &str, path: &str, error: io::Error) -> CallError {
    match parent.symlink_metadata(name) {
        Ok(metadata) if metadata.is_symlink() => symlink(&shown(path)),
        Ok(metadata) if metadata.is_dir() => not_a_file(path, &metadata),
        Err(missing) if missing.kind() == io::ErrorKind::NotFound => no_file(path),
        _ => failed(path, &error),
    }
}

fn kind(metadata: &Metadata) -> FileKind {
    let file_type = metadata.file_type();
    if file_type.is_symlink() {
        FileKind::Symlink
    } else if file_type.is_dir() {
        FileKind::Directory
    } else if file_type.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

/// Adds what `dir` holds, at every depth, to `usage`, never following a link.
fn count(dir: &Dir, depth: usize, usage: &mut FilesUsage) -> io::Result<()> {
    for entry in dir.entries()? {
        let entry = entry?;
        let file_type = entry.file_type()?;
        usage.entries += 1;
        if file_type.is_file() {
            usage.bytes += entry.metadata()?.len();
        } else if file_type.is_dir() && depth < MAX_WALK_DEPTH {
            // Deeper than that, a tree the host made is counted only to this depth.
            count(&dir.open_dir_nofollow(entry.file_name())?, depth + 1, usage)?;
        }
    }
    Ok(())
}

/// Removes everything in `dir`, never following a link, adding what it removed to `removed`.
fn remove_entries(dir: &Dir, depth: usize, removed: &mut FilesUsage) -> io::Result<()> {
    if depth > MAX_WALK_DEPTH {
        return Err(io::Error::other(format!("directories nested more than {MAX_WALK_DEPTH} deep")));
    }
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let metadata = dir.symlink_metadata(&name)?;
        if metadata.is_dir() {
            remove_entries(&dir.open_dir_nofollow(&name)?, depth + 1, removed)?;
            dir.remove_dir(&name)?;
        } else {
            dir.remove_file_or_symlink(&name)?;
            if metadata.is_file() {
                removed.bytes += metadata.len();
            }
        }
        removed.entries += 1;
    }
    Ok(())
}

fn symlink(shown: &str) -> CallError {
    CallError::new(format!(
        "files: {shown} is a symbolic link; files never follows links (they could lead outside the files directory)"
    ))
}

fn not_a_file(path: &str, metadata: &Metadata) -> CallError {
    let what = match kind(metadata) {
        FileKind::Directory => "a directory",
        FileKind::Symlink => return symlink(&shown(path)),
        FileKind::File => "a file",
        FileKind::Other => "neither a file nor a directory",
    };
    CallError::new(format!("files: {} is {what}, not a file", shown(path)))
}

fn top_is_not_a_file(path: &str) -> CallError {
    CallError::new(format!("files: {} is the top directory, not a file", shown(path)))
}

fn no_file(path: &str) -> CallError {
    CallError::new(format!("files: no file {}", shown(path)))
}

fn no_directory(path: &str) -> CallError {
    CallError::new(format!("files: no directory {}", shown(path)))
}

fn no_directory_for(dirs: &[&str], path: &str) -> CallError {
    CallError::new(format!(
        "files: no directory {} for {}; make it first with files.mkdir",
        shown(&dirs.join("/")),
        shown(path)
    ))
}

fn not_committed() -> CallError {
    CallError::new("files: the request ended before the change was made; nothing was changed")
}

/// The system's error for `path`.
fn failed(path: &str, error: &io::Error) -> CallError {
    failed_at(&shown(path), error)
}

/// The system's error, while doing `what`.
fn failed_at(what: &str, error: &io::Error) -> CallError {
    CallError::new(format!("files: {what}: {error}"))
}
