//! How an outcome is shown: one JSON object, or for a person, the logs, the result and a line of costs.

use isobox_core::{Outcome, SandboxError};

pub fn json(outcome: &Outcome) {
    println!("{}", serde_json::to_string(outcome).expect("outcomes serialise"));
}

pub fn human(outcome: &Outcome) {
    for line in &outcome.logs {
        eprintln!("[{}] {}", line.level.as_str(), line.message);
    }
    match &outcome.result {
        Ok(value) => println!("{}", serde_json::to_string_pretty(value).expect("values serialise")),
        Err(error) => {
            eprintln!("error[{}]: {error}", error.kind());
            if let SandboxError::Exception { stack: Some(stack), .. } = error {
                eprintln!("{}", stack.trim_end());
            }
        }
    }
    let m = &outcome.metrics;
    let mut costs = format!(
        "{} · {} backend · start {} µs · run {} µs · total {} µs · memory {:.1} MiB",
        if outcome.is_ok() { "ok" } else { "failed" },
        m.backend,
        m.start_us,
        m.run_us,
        m.total_us,
        m.memory_bytes as f64 / (1 << 20) as f64,
    );
    if let Some(fuel) = m.fuel_used {
        costs.push_str(&format!(" · fuel {fuel}"));
    }
    eprintln!("{costs}");
}
