//! The generated TypeScript declarations, checked with the real `tsc` against sample agent programs: good programs
//! type-check, wrong ones do not.

use std::path::{Path, PathBuf};
use std::process::Command;

use isobox::Capabilities;
use isobox::files::{Files, FilesConfig, FilesRoot};
use isobox::http::{HttpClient, HttpConfig};
use isobox::{kv::KvStore, shop};

/// `tsc` from `tests/ts` (installed by `scripts/setup.sh`), or `$ISOBOX_TSC`.
fn tsc() -> PathBuf {
    let path = std::env::var_os("ISOBOX_TSC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ts/node_modules/.bin/tsc"));
    assert!(path.exists(), "{} is missing: run scripts/setup.sh (it installs TypeScript with npm)", path.display());
    path
}

fn declarations(dir: &Path) -> String {
    let mut capabilities = Capabilities::new();
    capabilities.register(shop::capability()).unwrap();
    capabilities.register(KvStore::open(&dir.join("kv.redb")).unwrap().capability()).unwrap();
    capabilities.register(HttpClient::new(&HttpConfig::default()).unwrap().capability()).unwrap();
    let files = FilesConfig { root: FilesRoot::Shared(dir.to_path_buf()), ..FilesConfig::default() };
    capabilities.register(Files::open(files).unwrap().capability()).unwrap();
    capabilities.typescript(&["shop", "kv", "http", "files"]).unwrap()
}

/// Type-checks every sample program (each the body of an async function, in a module of its own) next to the
/// declarations, in one run of tsc; returns its diagnostics.
fn check_all(programs: &[PathBuf]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("isobox.d.ts"), declarations(dir.path())).unwrap();
    let mut files = vec!["isobox.d.ts".to_string()];
    for program in programs {
        let body = std::fs::read_to_string(program).unwrap();
        let wrapped = format!("export {{}};\nasync function agent(input: unknown) {{\n{body}\n}}\nvoid agent;\n");
        let name = program.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::write(dir.path().join(&name), wrapped).unwrap();
        files.push(name);
    }
    let output = Command::new(tsc())
        .current_dir(dir.path())
        .args(["--noEmit", "--strict", "--target", "es2022", "--lib", "es2022,dom", "--module", "esnext"])
        .args(&files)
        .output()
        .expect("tsc runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn good_programs_type_check_and_wrong_ones_do_not() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ts/programs");
    let mut programs: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    programs.sort();
    let diagnostics = check_all(&programs);
    let lines_of =
        |name: &str| diagnostics.lines().filter(|line| line.starts_with(name)).collect::<Vec<_>>().join("\n");

    let good: Vec<_> = programs.iter().filter(|path| !path.to_string_lossy().ends_with(".bad.ts")).collect();
    assert!(good.len() >= 2);
    for program in good {
        let name = program.file_name().unwrap().to_string_lossy();
        assert_eq!(lines_of(&name), "", "{name} should type-check");
    }
    assert_eq!(lines_of("isobox.d.ts"), "", "the declarations themselves should type-check");

    let expectations = [
        ("wrong-argument.bad.ts", "Argument of type 'string' is not assignable to parameter of type 'number'"),
        ("wrong-field.bad.ts", "Property 'amount' does not exist on type 'Order'"),
        ("wrong-field.bad.ts", "Type '\"lost\"' is not assignable to type 'OrderStatus"),
        ("undeclared.bad.ts", "Cannot find name 'secrets'"),
        ("http-headers.bad.ts", "Object literal may only specify known properties"),
        ("files-kind.bad.ts", "types 'FileKind' and '\"folder\"' have no overlap"),
        (
            "files-kind.bad.ts",
            "Argument of type 'Uint8Array<ArrayBuffer>' is not assignable to parameter of type 'string'",
        ),
    ];
    for (name, expected) in expectations {
        let found = lines_of(name);
        assert!(found.contains(expected), "{name}: expected `{expected}` in:\n{diagnostics}");
    }
}

/// GitHub's whole REST API as isobox declares it (1,223 operations, about 1 MB of TypeScript) type-checks, a program
/// using it correctly does too, and one with a wrong enum value, argument type or property does not. Checked without
/// the DOM library: a sandbox has none.
#[test]
fn a_connector_api_type_checks_and_catches_wrong_programs() {
    let config = isobox::connectors::ConnectorConfig {
        openapi: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi/api.github.com.json")),
        ..Default::default()
    };
    let github = isobox::connectors::OpenApi::load("github", &config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("github.d.ts"), isobox::capabilities::declarations([github.interface()])).unwrap();
    let program = |name: &str, body: &str| {
        let wrapped = format!("export {{}};\nasync function agent(input: unknown) {{\n{body}\n}}\nvoid agent;\n");
        std::fs::write(dir.path().join(name), wrapped).unwrap();
    };
    program(
        "good.ts",
        "const prs = await github.pullsList({ owner: 'octo', repo: 'hello', state: 'open', per_page: 5 });
         await github.issuesCreateComment({ owner: 'o', repo: 'r', issue_number: 1, body: { body: 'hi' } });
         return prs.map((pr) => [pr.number, pr.title, pr.user?.login]);",
    );
    program("wrong-enum.ts", "return github.pullsList({ owner: 'o', repo: 'r', state: 'merged' });");
    program(
        "wrong-type.ts",
        "return github.issuesCreateComment({ owner: 'o', repo: 'r', issue_number: '1', body: { body: 'x' } });",
    );
    program("wrong-property.ts", "return (await github.pullsList({ owner: 'o', repo: 'r' })).map((pr) => pr.titel);");
    let output = Command::new(tsc())
        .current_dir(dir.path())
        .args(["--noEmit", "--strict", "--target", "es2022", "--lib", "es2022", "--module", "esnext"])
        .args(["github.d.ts", "good.ts", "wrong-enum.ts", "wrong-type.ts", "wrong-property.ts"])
        .output()
        .expect("tsc runs");
    let diagnostics = String::from_utf8_lossy(&output.stdout);
    let lines_of =
        |name: &str| diagnostics.lines().filter(|line| line.starts_with(name)).collect::<Vec<_>>().join("\n");
    assert_eq!(lines_of("github.d.ts"), "", "the declarations themselves should type-check");
    assert_eq!(lines_of("good.ts"), "", "good.ts should type-check");
    assert!(lines_of("wrong-enum.ts").contains("Type '\"merged\"' is not assignable"), "{diagnostics}");
    assert!(lines_of("wrong-type.ts").contains("Type 'string' is not assignable to type 'number'"), "{diagnostics}");
    assert!(lines_of("wrong-property.ts").contains("Property 'titel' does not exist"), "{diagnostics}");
}
