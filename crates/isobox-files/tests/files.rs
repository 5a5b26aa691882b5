//! The `files` store on real directories in temp dirs, without a sandbox: every escape is refused and touches nothing
//! outside, quotas are exact (also under concurrent writers), read-only grants change nothing, tenants are apart and
//! writes are atomic.

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use isobox_files::{FileKind, Files, FilesConfig, FilesRoot, FilesUsage};

const SECRET: &str = "outside-secret-9f8e7d";

/// A temp dir holding `root` (the granted directory) and, beside it, `outside/secret.txt` and `outside/dir/`, which no
/// call may reach.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside/dir")).unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), SECRET).unwrap();
        Self { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    fn shared(&self, config: FilesConfig) -> Files {
        Files::open(FilesConfig { root: FilesRoot::Shared(self.root()), ..config }).unwrap()
    }

    /// The outside is as it was made: the secret unchanged, nothing added.
    fn assert_outside_untouched(&self) {
        assert_eq!(std::fs::read_to_string(self.outside().join("secret.txt")).unwrap(), SECRET);
        let mut names: Vec<String> = std::fs::read_dir(self.outside())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["dir", "secret.txt"]);
        assert_eq!(std::fs::read_dir(self.outside().join("dir")).unwrap().count(), 0);
        let beside: Vec<_> =
            std::fs::read_dir(self.dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(beside.len(), 2, "{beside:?}");
    }
}

fn default_config() -> FilesConfig {
    FilesConfig { root: FilesRoot::Shared(PathBuf::new()), ..FilesConfig::default() }
}

/// The error's message, which must not show the outside's content.
fn refused<T: std::fmt::Debug>(result: Result<T, isobox_capabilities::CallError>) -> String {
    let message = result.expect_err("refused").message;
    assert!(!message.contains(SECRET), "{message}");
    message
}

#[tokio::test]
async fn dot_dot_and_absolute_paths_are_refused() {
    let setup = Setup::new();
    let files = setup.shared(default_config());
    let absolute = setup.outside().join("secret.txt").display().to_string();
    for path in ["../outside/secret.txt", "a/../../outside/secret.txt", "..", absolute.as_str(), "/etc/passwd"] {
        let message = refused(files.read("t", path).await);
        assert!(message.contains("`..`") || message.contains("absolute"), "{path}: {message}");
        refused(files.read_bytes("t", path, 0, None).await);
        refused(files.write("t", path, b"pwned".to_vec()).await);
        refused(files.append("t", path, b"pwned".to_vec()).await);
        refused(files.remove("t", path, true).await);
        refused(files.stat("t", path).await);
    }
    refused(files.mkdir("t", "../outside/dir/made").await);
    refused(files.mkdir("t", &setup.outside().join("made").display().to_string()).await);
    refused(files.list("t", "../outside", None).await);
    refused(files.list("t", "/", None).await);
    setup.assert_outside_untouched();
    assert_eq!(std::fs::read_dir(setup.root()).unwrap().count(), 0);
}

#[tokio::test]
async fn symbolic_links_the_host_placed_are_never_followed() {
    let setup = Setup::new();
    symlink(setup.outside().join("secret.txt"), setup.root().join("link")).unwrap();
    symlink(setup.outside().join("dir"), setup.root().join("dirlink")).unwrap();
    symlink("../outside/secret.txt", setup.root().join("relative")).unwrap();
    std::fs::write(setup.root().join("inside.txt"), "inside").unwrap();
    // Even one that stays inside: a link is never followed.
    symlink("inside.txt", setup.root().join("inner")).unwrap();
    let files = setup.shared(default_config());

    for link in ["link", "relative", "inner"] {
        let message = refused(files.read("t", link).await);
        assert!(message.contains("symbolic link"), "{link}: {message}");
        refused(files.read_bytes("t", link, 0, None).await);
        assert!(refused(files.write("t", link, b"pwned".to_vec()).await).contains("symbolic link"));
        assert!(refused(files.append("t", link, b"pwned".to_vec()).await).contains("symbolic link"));
        assert!(refused(files.list("t", link, None).await).contains("symbolic link"));
        assert_eq!(files.stat("t", link).await.unwrap().unwrap().kind, FileKind::Symlink);
    }
    for path in ["dirlink/secret.txt", "dirlink/new.txt", "dirlink/a/b"] {
        assert!(refused(files.read("t", path).await).contains("symbolic link"), "{path}");
        assert!(refused(files.write("t", path, b"pwned".to_vec()).await).contains("symbolic link"), "{path}");
        assert!(refused(files.append("t", path, b"pwned".to_vec()).await).contains("symbolic link"), "{path}");
        assert!(refused(files.mkdir("t", path).await).contains("symbolic link"), "{path}");
        assert!(refused(files.remove("t", path, true).await).contains("symbolic link"), "{path}");
        assert!(refused(files.stat("t", path).await).contains("symbolic link"), "{path}");
    }
    assert!(refused(files.list("t", "dirlink", None).await).contains("symbolic link"));
    assert!(refused(files.mkdir("t", "dirlink").await).contains("symbolic link"));
    // Listed as links, with no size of what they point at.
    let listed = files.list("t", "", None).await.unwrap();
    let links: Vec<_> = listed.iter().filter(|entry| entry.kind == FileKind::Symlink).map(|entry| entry.size).collect();
    assert_eq!(links, [0, 0, 0, 0]);
    // Removing a link removes the link, not what it points at; a recursive removal of the top's entries neither.
    assert!(files.remove("t", "link", false).await.unwrap());
    files.mkdir("t", "tree").await.unwrap();
    symlink(setup.outside().join("dir"), setup.root().join("tree/escape")).unwrap();
    assert!(files.remove("t", "tree", true).await.unwrap());
    setup.assert_outside_untouched();
    assert_eq!(files.read("t", "inside.txt").await.unwrap(), "inside");
}

#[tokio::test]
async fn paths_through_files_nul_bytes_and_long_names_are_refused() {
    let setup = Setup::new();
    let files = setup.shared(default_config());
    files.write("t", "a.txt", b"text".to_vec()).await.unwrap();
    assert!(refused(files.write("t", "a.txt/b", b"x".to_vec()).await).contains("not a directory"));
    assert!(refused(files.read("t", "a.txt/b").await).contains("not a directory"));
    assert!(refused(files.mkdir("t", "a.txt/b").await).contains("not a directory"));
    assert!(refused(files.list("t", "a.txt", None).await).contains("not a directory"));
    assert!(refused(files.read("t", "a\0b").await).contains("NUL"));
    assert!(refused(files.write("t", "a.txt\0../../outside/secret.txt", b"x".to_vec()).await).contains("NUL"));
    assert!(refused(files.write("t", &"n".repeat(256), b"x".to_vec()).await).contains("at most 255 bytes"));
    files.write("t", &"n".repeat(255), b"x".to_vec()).await.unwrap();
    assert!(refused(files.read("t", &"d/".repeat(3000)).await).contains("at most 4096 bytes"));
    assert!(refused(files.mkdir("t", &["d"; 33].join("/")).await).contains("at most 32 levels"));
    assert!(files.mkdir("t", &["d"; 32].join("/")).await.unwrap());
    assert!(refused(files.write("t", "", b"x".to_vec()).await).contains("top directory"));
    assert!(refused(files.remove("t", "", true).await).contains("top directory"));
    assert!(refused(files.write("t", ".isobox-tmp-1-1", b"x".to_vec()).await).contains("the host's"));
    assert!(refused(files.write("t", "d", b"x".to_vec()).await).contains("a directory, not a file"));
    assert!(refused(files.write("t", "missing/a.txt", b"x".to_vec()).await).contains("files.mkdir"));
    setup.assert_outside_untouched();
}

#[tokio::test]
async fn reads_writes_lists_and_removes() {
    let setup = Setup::new();
    let files = setup.shared(default_config());
    assert!(files.mkdir("t", "data/2026").await.unwrap());
    assert!(!files.mkdir("t", "data/2026").await.unwrap());
    files.write("t", "data/2026/a.csv", b"x,y\n1,2\n".to_vec()).await.unwrap();
    files.append("t", "data/2026/a.csv", b"3,4\n".to_vec()).await.unwrap();
    files.append("t", "data/log.txt", b"one\n".to_vec()).await.unwrap();
    files.write("t", "data/bin", vec![0, 159, 146, 150]).await.unwrap();
    assert_eq!(files.read("t", "data/2026/a.csv").await.unwrap(), "x,y\n1,2\n3,4\n");
    assert_eq!(std::fs::read_to_string(setup.root().join("data/2026/a.csv")).unwrap(), "x,y\n1,2\n3,4\n");
    assert!(refused(files.read("t", "data/bin").await).contains("not UTF-8"));
    assert_eq!(files.read_bytes("t", "data/bin", 1, Some(2)).await.unwrap(), [159, 146]);
    assert_eq!(files.read_bytes("t", "data/bin", 10, None).await.unwrap(), Vec::<u8>::new());
    let listed: Vec<_> = files
        .list("t", "data", None)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| (entry.name, entry.kind, entry.size))
        .collect();
    assert_eq!(
        listed,
        [
            ("2026".into(), FileKind::Directory, 0),
            ("bin".into(), FileKind::File, 4),
            ("log.txt".into(), FileKind::File, 4)
        ]
    );
    assert_eq!(files.list("t", "data", Some(1)).await.unwrap().len(), 1);
    let info = files.stat("t", "data/2026/a.csv").await.unwrap().unwrap();
    assert_eq!((info.kind, info.size), (FileKind::File, 12));
    assert!(info.modified_ms > 1_700_000_000_000);
    assert_eq!(files.stat("t", "data").await.unwrap().unwrap().size, 3);
    assert_eq!(files.stat("t", "nothing").await.unwrap(), None);
    assert_eq!(files.stat("t", "no/such/dir").await.unwrap(), None);
    assert!(refused(files.read("t", "nothing").await).contains("no file"));
    assert!(refused(files.remove("t", "data", false).await).contains("not empty"));
    assert!(files.remove("t", "data/2026/a.csv", false).await.unwrap());
    assert!(!files.remove("t", "data/2026/a.csv", false).await.unwrap());
    assert!(files.remove("t", "data", true).await.unwrap());
    assert_eq!(files.list("t", "", None).await.unwrap(), []);
    assert_eq!(files.usage("t").unwrap(), FilesUsage::default());
}

#[tokio::test]
async fn quotas_for_bytes_and_entries_are_exact() {
    let setup = Setup::new();
    let config = FilesConfig { max_bytes_per_tenant: 100, max_entries_per_tenant: 4, ..default_config() };
    let files = setup.shared(config);
    files.write("t", "a", vec![b'a'; 60]).await.unwrap();
    let message = refused(files.write("t", "b", vec![b'b'; 41]).await);
    assert!(message.contains("quota exceeded") && message.contains("at most 100 bytes"), "{message}");
    assert!(!setup.root().join("b").exists());
    files.write("t", "b", vec![b'b'; 40]).await.unwrap();
    // Replacing a file counts its new size only.
    files.write("t", "a", vec![b'a'; 50]).await.unwrap();
    assert!(refused(files.append("t", "a", vec![b'a'; 11]).await).contains("quota exceeded"));
    assert_eq!(std::fs::read(setup.root().join("a")).unwrap().len(), 50);
    files.append("t", "a", vec![b'a'; 10]).await.unwrap();
    assert_eq!(files.usage("t").unwrap(), FilesUsage { bytes: 100, entries: 2 });

    assert!(files.mkdir("t", "d").await.unwrap());
    // Two directories would be needed and one is left: neither is made.
    assert!(refused(files.mkdir("t", "d/e/f").await).contains("at most 4 files and directories"));
    assert!(!setup.root().join("d/e").exists());
    files.write("t", "d/empty", Vec::new()).await.unwrap();
    assert!(refused(files.write("t", "d/more", Vec::new()).await).contains("quota exceeded"));
    assert_eq!(files.usage("t").unwrap(), FilesUsage { bytes: 100, entries: 4 });
    assert!(files.remove("t", "d", true).await.unwrap());
    assert_eq!(files.usage("t").unwrap(), FilesUsage { bytes: 100, entries: 2 });
    files.write("t", "c", Vec::new()).await.unwrap();

    // Another process (a fresh store) counts the same from the disk.
    assert_eq!(setup.shared(default_config()).usage("t").unwrap(), FilesUsage { bytes: 100, entries: 3 });
}

#[tokio::test]
async fn reads_and_writes_are_size_limited() {
    let setup = Setup::new();
    let config = FilesConfig { max_read_bytes: 10, max_write_bytes: 16, ..default_config() };
    let files = setup.shared(config);
    assert!(refused(files.write("t", "big", vec![b'x'; 17]).await).contains("at most 16 bytes"));
    assert!(refused(files.append("t", "big", vec![b'x'; 17]).await).contains("at most 16 bytes"));
    assert!(!setup.root().join("big").exists());
    files.write("t", "big", vec![b'x'; 16]).await.unwrap();
    assert!(refused(files.read("t", "big").await).contains("over the read limit of 10 bytes"));
    assert_eq!(files.read_bytes("t", "big", 0, None).await.unwrap().len(), 10);
    assert_eq!(files.read_bytes("t", "big", 0, Some(1000)).await.unwrap().len(), 10);
    assert_eq!(files.read_bytes("t", "big", 10, None).await.unwrap().len(), 6);
}

#[tokio::test]
async fn a_read_only_grant_changes_nothing() {
    let setup = Setup::new();
    std::fs::create_dir(setup.root().join("dir")).unwrap();
    std::fs::write(setup.root().join("data.csv"), "a,b\n").unwrap();
    let files = setup.shared(FilesConfig { read_only: true, ..default_config() });
    assert_eq!(files.read("t", "data.csv").await.unwrap(), "a,b\n");
    assert_eq!(files.list("t", "", None).await.unwrap().len(), 2);
    for message in [
        refused(files.write("t", "data.csv", b"x".to_vec()).await),
        refused(files.write("t", "new.csv", b"x".to_vec()).await),
        refused(files.append("t", "data.csv", b"x".to_vec()).await),
        refused(files.remove("t", "data.csv", false).await),
        refused(files.remove("t", "dir", true).await),
        refused(files.mkdir("t", "other").await),
    ] {
        assert!(message.contains("read-only"), "{message}");
    }
    assert_eq!(std::fs::read_to_string(setup.root().join("data.csv")).unwrap(), "a,b\n");
    assert_eq!(std::fs::read_dir(setup.root()).unwrap().count(), 2);
}

#[tokio::test]
async fn tenants_each_have_a_directory_of_their_own() {
    let setup = Setup::new();
    let base = setup.root();
    let files =
        Files::open(FilesConfig { root: FilesRoot::PerTenant(base.clone()), ..FilesConfig::default() }).unwrap();
    files.write("alice", "secret.txt", b"alice's".to_vec()).await.unwrap();
    assert!(refused(files.read("bob", "secret.txt").await).contains("no file"));
    assert_eq!(files.list("bob", "", None).await.unwrap(), []);
    assert!(files.stat("bob", "").await.unwrap().is_some());
    assert!(refused(files.read("bob", "../alice/secret.txt").await).contains("`..`"));
    // Tenant names that look like paths are directories like any other.
    for tenant in ["..", ".", ".hidden"] {
        files.write(tenant, "mine.txt", tenant.as_bytes().to_vec()).await.unwrap();
        assert_eq!(files.read(tenant, "mine.txt").await.unwrap(), tenant);
    }
    assert!(base.join("%2E./mine.txt").is_file() && base.join("%2E/mine.txt").is_file());
    assert!(refused(files.read("a/b", "x").await).contains("tenant"));
    assert_eq!(files.usage("alice").unwrap(), FilesUsage { bytes: 7, entries: 1 });
    assert_eq!(files.usage("bob").unwrap(), FilesUsage::default());
    setup.assert_outside_untouched();

    // Ending a tenant deletes its directory, and only its.
    use isobox_capabilities::TenantState;
    files.end("alice").unwrap();
    assert!(!base.join("alice").exists());
    assert!(base.join("%2E./mine.txt").is_file());
    assert_eq!(files.usage("alice").unwrap(), FilesUsage::default());
}

#[tokio::test]
async fn a_per_tenant_root_is_private_and_a_shared_root_must_exist() {
    let setup = Setup::new();
    let made = setup.dir.path().join("made/files");
    Files::open(FilesConfig { root: FilesRoot::PerTenant(made.clone()), ..FilesConfig::default() }).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&made).unwrap().permissions().mode() & 0o777, 0o700);
    let missing = setup.dir.path().join("missing");
    let error = Files::open(FilesConfig { root: FilesRoot::Shared(missing.clone()), ..FilesConfig::default() });
    assert!(error.err().unwrap().to_string().contains("missing"));
    assert!(!missing.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_are_atomic_for_readers() {
    let setup = Setup::new();
    let files = setup.shared(default_config());
    let (a, b) = (vec![b'a'; 300_000], vec![b'b'; 200_000]);
    files.write("t", "f", a.clone()).await.unwrap();
    let writer = {
        let (files, a, b) = (files.clone(), a.clone(), b.clone());
        tokio::spawn(async move {
            for i in 0..30 {
                files.write("t", "f", if i % 2 == 0 { b.clone() } else { a.clone() }).await.unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let files = files.clone();
            tokio::spawn(async move {
                let mut seen = 0;
                for _ in 0..40 {
                    let bytes = files.read_bytes("t", "f", 0, None).await.unwrap();
                    assert!(
                        (bytes.len() == 300_000 && bytes.iter().all(|&byte| byte == b'a'))
                            || (bytes.len() == 200_000 && bytes.iter().all(|&byte| byte == b'b')),
                        "a torn read of {} bytes",
                        bytes.len()
                    );
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    writer.await.unwrap();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), 40);
    }
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(setup.root()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(names, ["f"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_no_acknowledged_write_and_quotas_stay_exact() {
    let setup = Setup::new();
    let config = FilesConfig { max_entries_per_tenant: 101, ..default_config() };
    let files = setup.shared(config);
    files.mkdir("t", "out").await.unwrap();
    files.write("t", "log", Vec::new()).await.unwrap();
    // 8 writers × 20 files each, with room for 99 beside the directory and the log, each also appending a line to the
    // shared log.
    let tasks: Vec<_> = (0..8)
        .map(|writer| {
            let files = files.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0..20 {
                    let name = format!("out/{writer}-{i}");
                    if files.write("t", &name, name.as_bytes().to_vec()).await.is_ok() {
                        acknowledged.push(name);
                    }
                    let line = format!("{writer}-{i}\n");
                    files.append("t", "log", line.into_bytes()).await.unwrap();
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    assert_eq!(acknowledged.len(), 99, "exactly what the entries quota leaves room for");
    for name in &acknowledged {
        assert_eq!(std::fs::read_to_string(setup.root().join(name)).unwrap(), *name);
    }
    assert_eq!(std::fs::read_dir(setup.root().join("out")).unwrap().count(), 99);
    let log = std::fs::read_to_string(setup.root().join("log")).unwrap();
    assert_eq!(log.lines().count(), 160);
    let bytes: u64 = acknowledged.iter().map(|name| name.len() as u64).sum::<u64>() + log.len() as u64;
    let expected = FilesUsage { bytes, entries: 101 };
    assert_eq!(files.usage("t").unwrap(), expected);
    assert_eq!(setup.shared(default_config()).usage("t").unwrap(), expected, "as a fresh count from the disk");
}
