//! Every file of each fuzz target's seed corpus (`fuzz/corpus/TARGET/`) and of its found-and-fixed crashes
//! (`fuzz/regressions/TARGET/`), run through the target on the stable toolchain: no sanitizer, but every property the
//! target checks.

use std::path::{Path, PathBuf};

/// The stack libFuzzer's targets run on (the main thread's), so that inputs replay as they were fuzzed.
const STACK_BYTES: usize = 8 << 20;

fn replay(target: &str, run: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let corpus = files(&fuzz.join("corpus").join(target));
    assert!(!corpus.is_empty(), "the {target} target has no seed corpus");
    let regressions = files(&fuzz.join("regressions").join(target));
    let target = target.to_string();
    std::thread::Builder::new()
        .name(target.clone())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            for path in corpus.iter().chain(&regressions) {
                let data = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                eprintln!("{target}: {}", path.display());
                run(&data);
            }
        })
        .unwrap()
        .join()
        .expect("an input failed (its path is printed last above)");
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && path.file_name().is_some_and(|name| !name.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_is_replayed() {
    let names: Vec<&str> = isobox_fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
    let targets = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets")).unwrap();
    for target in targets {
        let path = target.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "plugin_load" && !cfg!(feature = "wasm") {
            continue;
        }
        assert!(names.contains(&name.as_str()), "fuzz/fuzz_targets/{name}.rs is not in isobox_fuzz::TARGETS");
    }
}

#[test]
fn dispatch() {
    replay("dispatch", isobox_fuzz::dispatch::dispatch);
}

#[test]
fn json_schema() {
    replay("json_schema", isobox_fuzz::json_schema::json_schema);
}

#[test]
fn prelude_outcome() {
    replay("prelude_outcome", isobox_fuzz::prelude_outcome::prelude_outcome);
}

#[test]
fn typescript() {
    replay("typescript", isobox_fuzz::typescript::typescript);
}

#[test]
fn wit_typescript() {
    replay("wit_typescript", isobox_fuzz::wit_typescript::wit_typescript);
}

#[cfg(feature = "wasm")]
#[test]
fn plugin_load() {
    replay("plugin_load", isobox_fuzz::plugin_load::plugin_load);
}
