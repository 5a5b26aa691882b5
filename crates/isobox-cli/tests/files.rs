//! `isobox run --grant files` as a user calls it: a program reads and writes beneath `--files-root` (or `[files]` of
//! `--config`, or its tenant's directory in the data dir) and nowhere else, on both backends.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Runs `code` with `isobox run --json ARGS -`, with `data` as isobox's data dir: the exit code and the report.
fn run(args: &[&str], data: &Path, code: &str) -> (i32, Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_isobox"))
        .args(["run", "--json"])
        .args(args)
        .arg("-")
        .env("ISOBOX_DATA_DIR", data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("isobox starts");
    child.stdin.take().unwrap().write_all(code.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap(), report, stderr)
}

#[test]
fn a_program_reads_and_writes_beneath_the_files_root_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside.txt"));
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("input.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(&outside, "outside").unwrap();
    let code = "
        const rows = (await files.read('input.csv')).trim().split('\\n').length;
        await files.mkdir('out');
        await files.write(`out/${input.backend}.txt`, `rows: ${rows}`);
        const escapes = [];
        for (const path of ['../outside.txt', 'out/../../outside.txt', input.outside]) {
            try { escapes.push(await files.write(path, 'pwned')) } catch (e) { escapes.push(e.message) }
            try { escapes.push(await files.read(path)) } catch (e) { escapes.push(e.message) }
        }
        return { listed: (await files.list('out')).map(e => e.name), escapes };
    ";
    for backend in ["wasm", "v8"] {
        let input = json!({ "backend": backend, "outside": outside.display().to_string() }).to_string();
        let root_arg = root.display().to_string();
        let args = ["--backend", backend, "--grant", "files", "--files-root", &root_arg, "--input", &input];
        let (exit, report, stderr) = run(&args, dir.path(), code);
        assert_eq!(exit, 0, "{backend}: {report} {stderr}");
        assert_eq!(report["metrics"]["backend"], backend);
        assert!(report["result"]["listed"].as_array().unwrap().contains(&json!(format!("{backend}.txt"))), "{report}");
        for message in report["result"]["escapes"].as_array().unwrap() {
            let message = message.as_str().unwrap();
            assert!(message.contains("path refused"), "{backend}: {message}");
            assert_ne!(message, "outside", "{backend}: the outside file was read");
        }
        assert_eq!(std::fs::read_to_string(root.join(format!("out/{backend}.txt"))).unwrap(), "rows: 2");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "outside");
    }
    // Nothing was made beside the root: the temp dir holds the root, the outside file and nothing else.
    let mut names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["outside.txt", "root"]);
}

#[test]
fn a_read_only_root_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.txt"), "kept").unwrap();
    let root = dir.path().display().to_string();
    for backend in ["wasm", "v8"] {
        let code = "try { await files.write('data.txt', 'changed') } catch (e) { return [e.message, await files.read('data.txt')] }";
        let args = ["--backend", backend, "--grant", "files", "--files-root", &root, "--files-read-only"];
        let (exit, report, stderr) = run(&args, dir.path(), code);
        assert_eq!(exit, 0, "{backend}: {report} {stderr}");
        assert!(report["result"][0].as_str().unwrap().contains("read-only"), "{backend}: {report}");
        assert_eq!(report["result"][1], "kept");
    }
}

#[test]
fn the_config_file_grants_a_root_relative_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/hello.txt"), "from the config's root").unwrap();
    let config = dir.path().join("isobox.toml");
    std::fs::write(&config, "[files]\nroot = \"data\"\nread-only = true\n").unwrap();
    let config = config.display().to_string();
    let code = "const text = await files.read('hello.txt'); try { await files.mkdir('x') } catch (e) { return [text, e.message] }";
    let (exit, report, stderr) = run(&["--config", &config, "--grant", "files"], dir.path(), code);
    assert_eq!(exit, 0, "{report} {stderr}");
    assert_eq!(report["result"][0], "from the config's root");
    assert!(report["result"][1].as_str().unwrap().contains("read-only"), "{report}");

    std::fs::write(dir.path().join("isobox.toml"), "[files]\nroots = \"data\"\n").unwrap();
    let (exit, _, stderr) = run(&["--config", &config, "--grant", "files"], dir.path(), "return 1");
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("unknown field `roots`"), "{stderr}");
}

#[test]
fn without_a_root_each_tenant_has_a_directory_in_the_data_dir() {
    let data = tempfile::tempdir().unwrap();
    let write = "await files.write('note.txt', 'mine'); return await files.list('')";
    let (exit, report, stderr) = run(&["--grant", "files", "--tenant", "alice"], data.path(), write);
    assert_eq!(exit, 0, "{report} {stderr}");
    assert_eq!(std::fs::read_to_string(data.path().join("files/alice/note.txt")).unwrap(), "mine");
    let (exit, report, _) = run(&["--grant", "files", "--tenant", "bob"], data.path(), "return await files.list('')");
    assert_eq!(exit, 0);
    assert_eq!(report["result"], json!([]), "bob sees none of alice's files");
}

#[test]
fn a_missing_root_is_an_error_and_types_declare_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing").display().to_string();
    let (exit, _, stderr) = run(&["--grant", "files", "--files-root", &missing], dir.path(), "return 1");
    assert_eq!(exit, 1, "{stderr}");
    assert!(stderr.contains("missing"), "{stderr}");

    let types = Command::new(env!("CARGO_BIN_EXE_isobox")).args(["types", "--grant", "files"]).output().unwrap();
    assert_eq!(types.status.code(), Some(0));
    let types = String::from_utf8(types.stdout).unwrap();
    assert!(types.contains("declare const files: {"), "{types}");
    assert!(
        types.contains("readBytes(path: string, offset?: number | null, length?: number | null): Promise<string>;"),
        "{types}"
    );
    let caps = Command::new(env!("CARGO_BIN_EXE_isobox")).arg("caps").output().unwrap();
    assert!(String::from_utf8(caps.stdout).unwrap().contains("files"));
}
