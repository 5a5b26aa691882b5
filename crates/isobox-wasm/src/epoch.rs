use std::time::Duration;

use wasmtime::Engine;

/// Advances the engine's epoch every `tick` until the engine is dropped. Each advance makes running sandboxes check
/// their deadline and yield to the async executor, so one busy sandbox never starves the others.
pub(crate) fn start_ticker(engine: &Engine, tick: Duration) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("isobox-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .expect("the epoch thread starts");
}
