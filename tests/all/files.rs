//! The `files` capability, on every backend with the same expectations: programs read, write and list beneath the
//! granted directory and reach nothing outside it; escapes are errors a program can catch; read-only grants, quotas
//! and tenants hold; concurrent sandboxes lose no acknowledged write. Real directories in a temp dir, with a secret
//! beside the granted one that no program may read or change.

use crate::common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use common::Backends;
use isobox::files::{Files, FilesConfig, FilesRoot};
use isobox::{Backend, Capabilities, Outcome, Request};
use serde_json::{Value, json};

const SECRET: &str = "outside-secret-31c4";

/// A temp dir with `outside/secret.txt` beside the directories the backends grant.
struct World {
    dir: tempfile::TempDir,
    /// Shared, writable: every tenant sees it; each case works in a folder of its backend's.
    shared: Backends,
    /// One directory per tenant, with small quotas.
    per_tenant: Backends,
    /// Shared, read-only, holding `data.csv`.
    read_only: Backends,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    for folder in ["outside/dir", "shared", "tenants", "dataset"] {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
    }
    std::fs::write(dir.path().join("outside/secret.txt"), SECRET).unwrap();
    // Links the host placed, pointing out of the granted directory.
    symlink(dir.path().join("outside/secret.txt"), dir.path().join("shared/link")).unwrap();
    symlink(dir.path().join("outside/dir"), dir.path().join("shared/dirlink")).unwrap();
    std::fs::write(dir.path().join("dataset/data.csv"), "city,sales\nOslo,3\n").unwrap();

    let backends = |config: FilesConfig| {
        let mut capabilities = Capabilities::new();
        capabilities.register(Files::open(config).unwrap().capability()).unwrap();
        common::backends(&capabilities)
    };
    let shared = backends(FilesConfig { root: FilesRoot::Shared(dir.path().join("shared")), ..FilesConfig::default() });
    let per_tenant = backends(FilesConfig {
        root: FilesRoot::PerTenant(dir.path().join("tenants")),
        max_bytes_per_tenant: 1000,
        max_entries_per_tenant: 5,
        max_write_bytes: 600,
        ..FilesConfig::default()
    });
    let read_only = backends(FilesConfig {
        root: FilesRoot::Shared(dir.path().join("dataset")),
        read_only: true,
        ..FilesConfig::default()
    });
    World { dir, shared, per_tenant, read_only }
});

fn path(relative: &str) -> PathBuf {
    WORLD.dir.path().join(relative)
}

async fn run(backend: &dyn Backend, tenant: &str, code: &str) -> Outcome {
    backend.run(&Request::new(code).with_grants(["files"]).with_tenant(tenant)).await
}

async fn value(backend: &dyn Backend, tenant: &str, code: &str) -> Value {
    let name = backend.name();
    run(backend, tenant, code).await.result.unwrap_or_else(|error| panic!("{name}: `{code}`: {error:?}"))
}

/// The outside is as it was made.
fn assert_outside_untouched() {
    assert_eq!(std::fs::read_to_string(path("outside/secret.txt")).unwrap(), SECRET);
    assert_eq!(std::fs::read_dir(path("outside")).unwrap().count(), 2);
    assert_eq!(std::fs::read_dir(path("outside/dir")).unwrap().count(), 0);
}

#[tokio::test]
async fn a_program_reads_writes_and_lists_beneath_the_root() {
    let code = "
        const dir = input.dir;
        const made = await files.mkdir(`${dir}/notes`);
        await files.write(`${dir}/notes/a.txt`, 'first line\\n');
        await files.append(`${dir}/notes/a.txt`, 'second line\\n');
        await files.writeBytes(`${dir}/bin`, 'AJ+Skg==');
        const listed = await files.list(dir);
        const info = await files.stat(`${dir}/notes/a.txt`);
        return {
            made,
            text: await files.read(`${dir}/notes/a.txt`),
            bytes: await files.readBytes(`${dir}/bin`),
            middle: await files.readBytes(`${dir}/bin`, 1, 2),
            listed,
            info: [info.kind, info.size, info.modifiedMs > 0],
            missing: await files.stat(`${dir}/nothing`),
            removed: [await files.remove(`${dir}/bin`), await files.remove(`${dir}/bin`)],
        };
    ";
    for (name, backend) in &WORLD.shared {
        let dir = format!("work-{name}");
        let request = Request::new(code).with_grants(["files"]).with_input(json!({ "dir": dir }));
        let result = backend.run(&request).await.result.unwrap_or_else(|error| panic!("{name}: {error:?}"));
        assert_eq!(
            result,
            json!({
                "made": true,
                "text": "first line\nsecond line\n",
                "bytes": "AJ+Skg==",
                "middle": "n5I=",
                "listed": [
                    {"name": "bin", "kind": "file", "size": 4},
                    {"name": "notes", "kind": "directory", "size": 0}
                ],
                "info": ["file", 23, true],
                "missing": null,
                "removed": [true, false]
            }),
            "{name}"
        );
        // The files are on the host's disk, where the program put them.
        assert_eq!(
            std::fs::read_to_string(path(&format!("shared/{dir}/notes/a.txt"))).unwrap(),
            "first line\nsecond line\n"
        );
    }
}

#[tokio::test]
async fn escapes_are_refused_with_an_error_the_program_catches() {
    let code = r#"
        const attempts = {
            dotdot: () => files.read('../outside/secret.txt'),
            dotdotWrite: () => files.write('../outside/secret.txt', 'pwned'),
            deepDotdot: () => files.write('a/../../outside/new.txt', 'pwned'),
            absolute: () => files.read('/etc/passwd'),
            absoluteWrite: () => files.write(input.secret, 'pwned'),
            hostLink: () => files.read('link'),
            hostLinkBytes: () => files.readBytes('link'),
            hostLinkWrite: () => files.write('link', 'pwned'),
            hostLinkAppend: () => files.append('link', 'pwned'),
            throughDirLink: () => files.read('dirlink/anything'),
            writeThroughDirLink: () => files.write('dirlink/new.txt', 'pwned'),
            mkdirThroughDirLink: () => files.mkdir('dirlink/made'),
            listDirLink: () => files.list('dirlink'),
            throughFile: () => files.write(`${input.dir}/file.txt/inner`, 'x'),
            nul: () => files.read('a\0b'),
            nulWrite: () => files.write(`${input.dir}/x\0../../outside/secret.txt`, 'pwned'),
            longName: () => files.write('n'.repeat(256), 'x'),
            longPath: () => files.read('d/'.repeat(3000)),
            deep: () => files.mkdir(Array(40).fill('d').join('/')),
        };
        await files.mkdir(input.dir);
        await files.write(`${input.dir}/file.txt`, 'plain');
        const errors = {};
        for (const [name, attempt] of Object.entries(attempts)) {
            try {
                errors[name] = ['no error', await attempt()];
            } catch (e) {
                errors[name] = [e instanceof Error, e.message];
            }
        }
        // There is no way to make a link.
        errors.noLinkApi = [typeof files.symlink, typeof files.link, typeof files.rename];
        return errors;
    "#;
    let expected = [
        ("dotdot", "`..`"),
        ("dotdotWrite", "`..`"),
        ("deepDotdot", "`..`"),
        ("absolute", "absolute"),
        ("absoluteWrite", "absolute"),
        ("hostLink", "symbolic link"),
        ("hostLinkBytes", "symbolic link"),
        ("hostLinkWrite", "symbolic link"),
        ("hostLinkAppend", "symbolic link"),
        ("throughDirLink", "symbolic link"),
        ("writeThroughDirLink", "symbolic link"),
        ("mkdirThroughDirLink", "symbolic link"),
        ("listDirLink", "symbolic link"),
        ("throughFile", "not a directory"),
        ("nul", "NUL"),
        ("nulWrite", "NUL"),
        ("longName", "at most 255 bytes"),
        ("longPath", "at most 4096 bytes"),
        ("deep", "at most 32"),
    ];
    let secret = path("outside/secret.txt").display().to_string();
    for (name, backend) in &WORLD.shared {
        let input = json!({ "dir": format!("escapes-{name}"), "secret": secret });
        let request = Request::new(code).with_grants(["files"]).with_input(input);
        let result = backend.run(&request).await.result.unwrap_or_else(|error| panic!("{name}: {error:?}"));
        assert!(!result.to_string().contains(SECRET), "{name}: the secret leaked: {result}");
        for (attempt, fragment) in expected {
            let [caught, message] = result[attempt].as_array().unwrap().as_slice() else { panic!("{name}: {result}") };
            assert_eq!(caught, &json!(true), "{name}: {attempt} was not refused: {result}");
            let message = message.as_str().unwrap();
            assert!(message.contains(fragment), "{name}: {attempt}: `{message}` should contain `{fragment}`");
        }
        assert_eq!(result["noLinkApi"], json!(["undefined", "undefined", "undefined"]), "{name}");
        assert_outside_untouched();
        assert!(std::fs::symlink_metadata(path("shared/link")).unwrap().file_type().is_symlink());
    }
}

#[tokio::test]
async fn a_read_only_grant_reads_and_refuses_every_change() {
    let code = "
        const errors = [];
        for (const change of [
            () => files.write('data.csv', 'x'),
            () => files.write('new.csv', 'x'),
            () => files.append('data.csv', 'x'),
            () => files.writeBytes('data.csv', 'AA=='),
            () => files.remove('data.csv'),
            () => files.mkdir('dir'),
        ]) {
            try { await change(); errors.push('changed') } catch (e) { errors.push(e.message) }
        }
        return { text: await files.read('data.csv'), listed: (await files.list('')).map(e => e.name), errors };
    ";
    for (name, backend) in &WORLD.read_only {
        let result = value(&**backend, "reader", code).await;
        assert_eq!(result["text"], json!("city,sales\nOslo,3\n"), "{name}");
        assert_eq!(result["listed"], json!(["data.csv"]), "{name}");
        for error in result["errors"].as_array().unwrap() {
            assert!(error.as_str().unwrap().contains("read-only"), "{name}: {error}");
        }
    }
    assert_eq!(std::fs::read_to_string(path("dataset/data.csv")).unwrap(), "city,sales\nOslo,3\n");
    assert_eq!(std::fs::read_dir(path("dataset")).unwrap().count(), 1);
}

#[tokio::test]
async fn quotas_and_size_limits_are_catchable_errors_that_change_nothing() {
    let code = "
        const attempt = async (f) => { try { await f(); return 'ok' } catch (e) { return e.message } };
        return [
            await attempt(() => files.write('a', 'x'.repeat(600))),
            await attempt(() => files.write('too-big', 'x'.repeat(601))),
            await attempt(() => files.write('b', 'x'.repeat(401))),
            await attempt(() => files.write('c', 'x'.repeat(1))),
            await attempt(() => files.mkdir('d/e')),
            await attempt(() => files.mkdir('d/e/f/g')),
            await files.list(''),
        ];
    ";
    for (name, backend) in &WORLD.per_tenant {
        let tenant = format!("quota-{name}");
        let result = value(&**backend, &tenant, code).await;
        let messages: Vec<&str> = result.as_array().unwrap().iter().take(6).map(|m| m.as_str().unwrap()).collect();
        assert_eq!(messages[0], "ok", "{name}");
        assert!(messages[1].contains("a write is at most 600 bytes"), "{name}: {}", messages[1]);
        assert!(messages[2].contains("quota exceeded") && messages[2].contains("at most 1000 bytes"), "{name}");
        assert_eq!(messages[3], "ok", "{name}");
        assert_eq!(messages[4], "ok", "{name}");
        assert!(messages[5].contains("at most 5 files and directories"), "{name}: {}", messages[5]);
        let listed: Vec<&str> = result[6].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(listed, ["a", "c", "d"], "{name}");
        assert!(!path(&format!("tenants/{tenant}/b")).exists() && !path(&format!("tenants/{tenant}/d/e/f")).exists());
    }
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    for (name, backend) in &WORLD.per_tenant {
        let backend = &**backend;
        let (alice, bob) = (format!("alice-{name}"), format!("bob-{name}"));
        value(backend, &alice, "await files.write('secret.txt', 'alice only')").await;
        let seen = value(
            backend,
            &bob,
            &format!(
                "const tries = [];
                 for (const p of ['secret.txt', '../{alice}/secret.txt']) {{
                     try {{ tries.push(await files.read(p)) }} catch (e) {{ tries.push(e.message) }}
                 }}
                 return [await files.list(''), tries]"
            ),
        )
        .await;
        assert_eq!(seen[0], json!([]), "{name}");
        assert!(seen[1][0].as_str().unwrap().contains("no file"), "{name}: {seen}");
        assert!(seen[1][1].as_str().unwrap().contains("`..`"), "{name}: {seen}");
        assert_eq!(value(backend, &alice, "return await files.read('secret.txt')").await, json!("alice only"));
        assert!(path(&format!("tenants/{alice}/secret.txt")).is_file());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sandboxes_lose_no_acknowledged_write() {
    let code = "
        await files.write(`concurrent/${input.i}.txt`, `written by ${input.i}`);
        await files.append('concurrent/log.txt', `${input.i}\\n`);
        return input.i;
    ";
    let [(_, first), (_, second)] = WORLD.shared.as_slice() else { panic!("two backends") };
    value(&**first, "default", "await files.mkdir('concurrent')").await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let backend: Arc<dyn Backend> = if i % 2 == 0 { first.clone() } else { second.clone() };
            tokio::spawn(async move {
                let request = Request::new(code).with_grants(["files"]).with_input(json!({ "i": i }));
                backend.run(&request).await
            })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap();
        assert!(outcome.is_ok(), "{}: {:?}", outcome.metrics.backend, outcome.result);
    }
    let mut lines: Vec<u32> = std::fs::read_to_string(path("shared/concurrent/log.txt"))
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    lines.sort();
    assert_eq!(lines, (0..24).collect::<Vec<_>>());
    for i in 0..24 {
        let written = std::fs::read_to_string(Path::new(&path(&format!("shared/concurrent/{i}.txt")))).unwrap();
        assert_eq!(written, format!("written by {i}"));
    }
}
