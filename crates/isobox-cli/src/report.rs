//! How an outcome is shown: one JSON object, or for a person, the logs, the result and a line of costs.

use isobox_core::{Outcome, SandboxError};

pub fn json(outcome: &Outcome) {
    println!("{}", serde_json::to_string(outcome).expect("outcomes serialise"));
}

/// `{"wasm": {...}, "v8": {...}}`: one outcome per backend, in one JSON object.
pub fn json_by_backend(outcomes: &[(&str, Outcome)]) {
    let object: serde_json::Map<String, serde_json::Value> = outcomes
        .iter()
        .map(|(name, outcome)| (name.to_string(), serde_json::to_value(outcome).expect("outcomes serialise")))
        .collect();
    println!("{}", serde_json::Value::Object(object));
}

/// Each backend's outcome, then how their results and costs compare.
pub fn side_by_side(outcomes: &[(&str, Outcome)]) {
    for (name, outcome) in outcomes {
        eprintln!("── {name} ──");
        human(outcome);
    }
    let [(first_name, first), rest @ ..] = outcomes else { return };
    for (name, other) in rest {
        let same = match (&first.result, &other.result) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => a.kind() == b.kind(),
            _ => false,
        };
        let ratio = other.metrics.total_us as f64 / first.metrics.total_us.max(1) as f64;
        eprintln!(
            "── {name} vs {first_name}: {} · total {} µs vs {} µs (x{ratio:.1}) · start {} µs vs {} µs",
            if same { "same outcome" } else { "OUTCOMES DIFFER" },
            other.metrics.total_us,
            first.metrics.total_us,
            other.metrics.start_us,
            first.metrics.start_us,
        );
    }
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
