//! The README's Rust snippets, each exactly as written there, in a `main` returning `anyhow::Result`, as a new user
//! pastes them: `cargo test` builds this example, and `tests/all/readme.rs` checks that every snippet of the README is
//! here. `cargo run --release --example readme` runs them (the plugin one only when `slugify.wasm` is there: see
//! `isobox compile`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    capability().await?;
    library().await?;
    if std::path::Path::new("slugify.wasm").exists() {
        plugin().await?;
    }
    Ok(())
}

// As in the README, not as rustfmt would lay it out.
#[rustfmt::skip]
async fn capability() -> anyhow::Result<()> {
    use isobox::{Backend, CallError, Capabilities, Capability, Request, WasmBackend, WasmConfig};

    let weather = Capability::from_wit("weather.wit", r#"
        package acme:weather;
        /// Current conditions.
        interface weather {
            record reading { celsius: f64, wind-kmh: f64 }
            /// The current reading for a city.
            now: func(city: string) -> result<reading, string>;
        }"#, "weather")?
        .func("now", |ctx, (city,): (String,)| async move {
            // ctx.tenant says whose request this is.
            println!("{} asks about {city}", ctx.tenant);
            Ok::<_, CallError>(serde_json::json!({ "celsius": 21.5, "windKmh": 12.0 }))
        });
    let mut capabilities = Capabilities::new();
    capabilities.register(weather)?;
    println!("{}", capabilities.typescript(&["weather"])?);   // prompt the model with this
    let backend = WasmBackend::new(WasmConfig { capabilities, ..WasmConfig::default() })?;
    let outcome = backend.run(&Request::new("return (await weather.now('Oslo')).celsius").with_grants(["weather"])).await;

    println!("{:?}", outcome.result);
    Ok(())
}

// As in the README, not as rustfmt would lay it out.
#[rustfmt::skip]
async fn library() -> anyhow::Result<()> {
    use isobox::{Backend, Limits, Request, WasmBackend, WasmConfig};
    use serde_json::json;

    let backend = WasmBackend::new(WasmConfig::default())?;   // once per process: compiles or loads the guest
    let request = Request::new("return input.map(n => n * n)")
        .with_input(json!([1, 2, 3]))
        .with_limits(Limits { timeout: std::time::Duration::from_millis(500), ..Limits::default() });
    let outcome = backend.run(&request).await;                // a fresh sandbox, always an Outcome
    match &outcome.result {
        Ok(value) => println!("{value}"),
        Err(error) => println!("{} error: {error}", error.kind()),
    }

    Ok(())
}

// As in the README, not as rustfmt would lay it out.
#[rustfmt::skip]
async fn plugin() -> anyhow::Result<()> {
    use isobox::WasmConfig;
    use isobox::RunOptions;
    use isobox::plugin::PluginHost;
    use serde_json::json;

    let host = PluginHost::new(WasmConfig::default())?;            // once per process
    let plugin = host.load(&std::fs::read("slugify.wasm")?)?;      // validated, compiled, linked; a typed PluginError
    let outcome = plugin.call("slugify", Some(&json!("Hello, World")), &RunOptions::default()).await;
    let mut session = plugin.session(&RunOptions::default()).await?; // one sandbox kept for a caller's sequence of calls

    println!("{:?} {:?}", outcome.result, session.call("slugify", Some(&json!("Again"))).await.result);
    Ok(())
}
