//! Directories whose contents isobox trusts: the compiled guest cached on disk is loaded as native code, and the kv
//! database holds every tenant's data. Such a directory must be this user's alone, or another local user could plant
//! an artifact or read the data (the shared temp directory, where a name is predictable, being the usual trap).

use std::io;
use std::path::{Path, PathBuf};

/// Creates `dir` (and any missing parent) readable by its owner only (mode 0700), and checks that it is a directory
/// of this process's user that no one else can write to.
///
/// # Errors
/// Creating it failed, or it is a symbolic link, not a directory, owned by another user, or writable by others; the
/// message names the directory and the reason.
pub fn ensure(dir: &Path) -> io::Result<()> {
    create(dir)?;
    check(dir, true)
}

/// Checks that `path` is this user's (a regular file, or with `directory` a directory, not a symbolic link) and that no
/// one else can write to it.
///
/// # Errors
/// As [`ensure`], for `path`.
pub fn check(path: &Path, directory: bool) -> io::Result<()> {
    let refuse =
        |reason: &str| Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{} {reason}", path.display())));
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.file_type().is_symlink() {
        return refuse("is a symbolic link");
    }
    if directory != metadata.is_dir() || (!directory && !metadata.is_file()) {
        return refuse(if directory { "is not a directory" } else { "is not a regular file" });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let user = unsafe { libc::geteuid() };
        if metadata.uid() != user {
            return refuse(&format!("belongs to another user (uid {}, not {user})", metadata.uid()));
        }
        if metadata.mode() & 0o022 != 0 {
            return refuse(&format!("can be written by other users (mode {:o})", metadata.mode() & 0o777));
        }
    }
    Ok(())
}

/// `name` in the system's temp directory, suffixed with this user's id: where isobox keeps its directories when the
/// environment names no home. Another user may have made it first; [`ensure`] then refuses it.
pub fn in_temp_dir(name: &str) -> PathBuf {
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    #[cfg(not(unix))]
    let user = 0;
    std::env::temp_dir().join(format!("{name}-{user}"))
}

/// isobox's data dir, where the built-in capabilities keep their state (the `kv` database, the `files` tenants' trees):
/// `$ISOBOX_DATA_DIR`, else `$XDG_DATA_HOME/isobox`, else `~/.local/share/isobox`, else a folder of this user's in the
/// temp dir (one another user made first is refused by [`ensure`]).
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ISOBOX_DATA_DIR") {
        PathBuf::from(dir)
    } else if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        PathBuf::from(dir).join("isobox")
    } else if let Some(home) = std::env::var_os("HOME") {
        PathBuf::from(home).join(".local/share/isobox")
    } else {
        in_temp_dir("isobox-data")
    }
}

fn create(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_private_directory_is_made_and_accepted_and_anything_else_refused() {
        let root = std::env::temp_dir().join(format!("isobox-private-dir-test-{}", std::process::id()));
        let made = root.join("a/b");
        ensure(&made).unwrap();
        assert_eq!(std::fs::metadata(&made).unwrap().permissions().mode() & 0o777, 0o700);
        // Writable by others: refused.
        let shared = root.join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(ensure(&shared).unwrap_err().to_string().contains("can be written by other users"));
        // A symbolic link in its place: refused, whatever it points to.
        let link = root.join("link");
        std::os::unix::fs::symlink(&made, &link).unwrap();
        assert!(ensure(&link).unwrap_err().to_string().contains("symbolic link"));
        // A file where the directory should be, and a directory where a file should be.
        let file = root.join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(ensure(&file).is_err());
        check(&file, false).unwrap();
        assert!(check(&made, false).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
