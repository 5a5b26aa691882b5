//! Writes the plugin loader's seed plugins into `fuzz/corpus/plugin_load/` (they name the guest of this build, so
//! write them again when the guest changes: `cargo run --release -p isobox-fuzz --example plugin_seeds`).

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/plugin_load");
    std::fs::create_dir_all(&dir)?;
    for (i, seed) in isobox_fuzz::plugin_load::seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("plugin-{i}.wasm")), seed)?;
    }
    Ok(())
}
