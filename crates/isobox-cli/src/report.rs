//! How an outcome is shown: one JSON object, or for a person, the logs, the result and a line of costs.

use isobox_core::SandboxError;
use isobox_core::fit::FittedOutcome;

pub fn json(outcome: &FittedOutcome) {
    outln!("{}", serde_json::to_string(outcome).expect("outcomes serialise"));
}

/// `{"wasm": {...}, "v8": {...}}`: one outcome per backend, in one JSON object.
pub fn json_by_backend(outcomes: &[(&str, FittedOutcome)]) {
    let object: serde_json::Map<String, serde_json::Value> = outcomes
        .iter()
        .map(|(name, outcome)| (name.to_string(), serde_json::to_value(outcome).expect("outcomes serialise")))
        .collect();
    outln!("{}", serde_json::Value::Object(object));
}

/// Each backend's outcome, then how their results and costs compare.
pub fn side_by_side(outcomes: &[(&str, FittedOutcome)]) {
    for (name, outcome) in outcomes {
        eprintln!("── {name} ──");
        human(outcome);
    }
    let [(first_name, first), rest @ ..] = outcomes else { return };
    for (name, other) in rest {
        let (first, other) = (first.outcome(), other.outcome());
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

/// The outcome for a person at a terminal. Everything the program wrote is shown escaped (see [`printable`]), and each
/// line of a console message carries its level, so that no output of the program can pass for isobox's own lines.
pub fn human(fitted: &FittedOutcome) {
    let outcome = fitted.outcome();
    for line in fitted.logs() {
        for part in line.message.split('\n') {
            eprintln!("[{}] {}", line.level.as_str(), printable(part));
        }
    }
    for call in &outcome.calls {
        let status = match &call.error {
            None if call.replayed => "ok (replayed from the run's record)".to_string(),
            None => "ok".to_string(),
            Some(error) => format!("failed: {}", printable(error)),
        };
        eprintln!(
            "[call] {}.{} {status} · {} µs",
            printable(&call.capability),
            printable(&call.method),
            call.duration_us
        );
    }
    match fitted.result() {
        // JSON escapes every control character in strings.
        Ok(value) => outln!("{}", serde_json::to_string_pretty(value).expect("values serialise")),
        Err(error) => {
            eprintln!("error[{}]: {}", error.kind(), printable(&error.to_string()));
            if let SandboxError::Exception { stack: Some(stack), .. } = error {
                for frame in stack.trim_end().split('\n') {
                    eprintln!("  {}", printable(frame));
                }
            }
            if let SandboxError::ApprovalRequired(stop) = error {
                eprintln!("  arguments: {}", printable(&stop.args.to_string()));
                if let Some(run_id) = &stop.run_id {
                    eprintln!("  continue with `isobox run --approve {run_id}` or `isobox run --deny {run_id}`");
                }
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
    if fitted.truncated() {
        costs.push_str(" · output cut to the token budget");
    }
    eprintln!("{costs}");
}

/// `text` with what a terminal would act on escaped: control characters (escape sequences, carriage returns, line
/// breaks) and the Unicode controls that reorder or hide text, each as `\u{…}`.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return text.into();
    }
    text.chars()
        .map(|c| if hidden(c) { c.escape_unicode().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

/// Writes to standard output; a reader that has gone (a broken pipe) ends the process quietly with the status a shell
/// gives a process ended by SIGPIPE.
pub fn stdout(text: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(128 + 13);
        }
        eprintln!("isobox: writing to standard output: {error}");
        std::process::exit(1);
    }
}
