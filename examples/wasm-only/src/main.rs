//! An embedder that depends on isobox with `default-features = false`: the WebAssembly backend and a capability of
//! its own, declared in WIT. It links no V8, no TypeScript eraser, no database and no HTTP client; its tests check
//! both that it works and what it links.
//!
//! Run with `cargo run --release -p isobox-example-wasm-only`.

use isobox::{Backend, CallError, Capabilities, Capability, Outcome, Request, WasmBackend, WasmConfig};

const WIT: &str = r#"
package example:units;

interface units {
    /// Degrees Fahrenheit for degrees Celsius.
    to-fahrenheit: func(celsius: f64) -> f64;
}
"#;

/// The embedder's capability, `units`.
fn units() -> Result<Capability, Box<dyn std::error::Error + Send + Sync>> {
    let units =
        Capability::from_wit("units.wit", WIT, "units")?.func("to-fahrenheit", |_ctx, (celsius,): (f64,)| async move {
            Ok::<_, CallError>(celsius * 9.0 / 5.0 + 32.0)
        });
    Ok(units)
}

/// Runs `code` with `units` granted, in a fresh sandbox.
async fn run(code: &str) -> Result<Outcome, Box<dyn std::error::Error + Send + Sync>> {
    let mut capabilities = Capabilities::new();
    capabilities.register(units()?)?;
    let backend = WasmBackend::new(WasmConfig { capabilities, ..WasmConfig::default() })?;
    Ok(backend.run(&Request::new(code).with_grants(["units"])).await)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let outcome = run("return Promise.all([0, 37, 100].map(c => units.toFahrenheit(c)))").await?;
    println!("{}", serde_json::to_string(&outcome)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_program_calls_the_embedders_capability() {
        let outcome = run("return Promise.all([0, 37, 100].map(c => units.toFahrenheit(c)))").await.unwrap();
        assert_eq!(outcome.result.unwrap(), json!([32, 98.6, 212]));
        // Arguments are checked against the WIT before the host function sees them.
        let outcome = run("try { await units.toFahrenheit('warm') } catch (e) { return e.name + ': ' + e.message }");
        let message = outcome.await.unwrap().result.unwrap();
        assert!(message.as_str().unwrap().starts_with("TypeError: "), "{message}");
    }

    /// What `default-features = false` keeps out of an embedder's build, as `cargo tree` sees this package's
    /// dependencies.
    #[test]
    fn links_neither_v8_nor_typescript_nor_a_database_nor_an_http_client() {
        let output = std::process::Command::new(env!("CARGO"))
            .args(["tree", "--offline", "--locked", "-e", "normal", "--prefix", "none", "-p"])
            .arg(env!("CARGO_PKG_NAME"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
        let tree = String::from_utf8(output.stdout).unwrap();
        let crates: Vec<&str> = tree.lines().filter_map(|line| line.split(' ').next()).collect();
        assert!(
            crates.contains(&"isobox-wasm") && crates.contains(&"wasmtime"),
            "the tree is not this package's:\n{tree}"
        );
        for absent in [
            "isobox-v8",
            "isobox-typescript",
            "swc_ts_fast_strip",
            "isobox-kv",
            "redb",
            "tokio-postgres",
            "isobox-http",
            "reqwest",
            "rustls",
            "isobox-files",
            "isobox-shop",
            "isobox-connectors",
            "rmcp",
            "isobox-mcp",
            "isobox-compile",
        ] {
            assert!(!crates.contains(&absent), "{absent} is linked:\n{tree}");
        }
    }
}
