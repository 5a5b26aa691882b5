//! Every Rust snippet of the README compiles as written: each is in `examples/readme.rs` (which `cargo test` builds),
//! line for line.

use std::path::Path;

/// The lines of each ```` ```rust ```` block of `markdown`.
fn rust_blocks(markdown: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```rust") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), line) => block.push(line),
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_rust_snippet_of_the_readme_is_in_the_example_that_builds_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/readme.rs")).unwrap();
    // The example's lines, without the indentation of the function each snippet is in.
    let lines: Vec<&str> = example.lines().map(|line| line.strip_prefix("    ").unwrap_or(line)).collect();
    let blocks = rust_blocks(&readme);
    assert!(blocks.len() >= 3, "the README's Rust snippets were not found");
    for block in blocks {
        let found = lines.windows(block.len()).any(|window| window == block.as_slice());
        assert!(found, "this README snippet is not in examples/readme.rs as written:\n{}", block.join("\n"));
    }
}
