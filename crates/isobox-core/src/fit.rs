//! Output fitted to a model's budget: a program's result and logs cut, cleanly and with explicit markers, so that
//! their JSON takes about as many tokens as a reader allows.
//!
//! Unlike [`Limits::output_bytes`](crate::Limits), which ends a program that writes too much, a budget only shapes
//! what is *reported*: the [`Outcome`] keeps the full result and logs, and [`FittedOutcome`] is a view of it.
//!
//! **Tokens.** A token is counted as [`BYTES_PER_TOKEN`] bytes of compact JSON text, a common estimate for English
//! and code (the fitted text's length is exact; only the token count is an estimate). A budget of `tokens` allows
//! `tokens × 4` bytes.
//!
//! **How values are cut.** Every array and object keeps at most its first `n` entries, every string (and object key)
//! its first `16 × n` characters, and arrays and objects at most `2 × n` levels deep (and never more than
//! [`MAX_RESULT_DEPTH`]); isobox picks the largest `n` whose result fits the budget. So an array of 10,000 objects
//! keeps a prefix of whole or evenly shortened items, not one giant first item, and small parts of a value are
//! untouched while big ones are cut. What was cut is said where it was:
//!
//! - a string ends with `…[cut 123,456 characters]` (Unicode code points, cut on a character boundary);
//! - an array ends with an item `"…[cut 9,800 more items]"`;
//! - an object gets a last key `"…"` whose value is `"…[cut 40 more keys]"`;
//! - an array or object too deeply nested is replaced by `"…[cut an array of 3 items]"` or
//!   `"…[cut an object of 5 keys]"`;
//! - logs keep their first and last lines, with a line `…[cut 1,234 lines]` between them, each line cut as strings
//!   are.
//!
//! **Bounds.** The fitted JSON text is at most the budget's bytes, except for a budget smaller than the barest
//! form of a value (the value replaced by one marker), which is at most [`MARGIN_BYTES`] more. Work is a few dozen
//! passes over at most the budget's bytes plus the value's own strings; nothing recurses deeper than
//! [`MAX_RESULT_DEPTH`] levels, whatever the value's depth; nothing panics.

use std::borrow::Cow;
use std::io;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::output::{MAX_RESULT_DEPTH, json_escaped_len};
use crate::{Level, LogLine, Outcome, SandboxError};

/// Bytes of JSON text counted as one token.
pub const BYTES_PER_TOKEN: usize = 4;

/// The largest budget the command line, MCP `execute` and `isobox serve` accept, in tokens.
pub const MAX_TOKENS: usize = 1_000_000;

/// How far past a budget fitted JSON text may be: only when the budget is smaller than one marker.
pub const MARGIN_BYTES: usize = 64;

/// Characters a string keeps per entry an array keeps (see the module's documentation).
const CHARS_PER_LEVEL: usize = 16;

/// A value fitted to a budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    /// The value, or its cut form with markers.
    pub value: Value,
    /// Whether anything was cut.
    pub truncated: bool,
}

/// `value` fitted to `tokens` (see the [module's documentation](self) for how): unchanged when its JSON fits, else
/// cut with markers saying what was cut.
///
/// # Examples
/// ```
/// use isobox_core::fit::fit;
/// use serde_json::json;
///
/// let small = fit(&json!({"a": [1, 2, 3]}), 100);
/// assert!(!small.truncated);
///
/// let long = fit(&json!("x".repeat(100_000)), 100);
/// assert!(long.truncated);
/// assert!(long.value.as_str().unwrap().ends_with("characters]"));
/// assert!(long.value.to_string().len() <= 400);
/// ```
pub fn fit(value: &Value, tokens: usize) -> Fitted {
    fit_bytes(value, bytes(tokens))
}

/// Console lines fitted to a budget.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedLogs {
    /// The lines kept, the last one perhaps cut short.
    pub lines: Vec<LogLine>,
    /// Whether any line was cut or left out.
    pub truncated: bool,
}

/// `logs` fitted to `tokens`: the first and last lines, with a marker line saying how many were left out between
/// them, each line cut as strings are; unchanged when their JSON fits.
///
/// # Examples
/// ```
/// use isobox_core::fit::fit_logs;
/// use isobox_core::{Level, LogLine};
///
/// let logs: Vec<LogLine> =
///     (0..10_000).map(|n| LogLine { level: Level::Log, message: format!("line {n}") }).collect();
/// let fitted = fit_logs(&logs, 200);
/// assert!(fitted.truncated);
/// assert_eq!(fitted.lines.first().unwrap().message, "line 0");
/// assert_eq!(fitted.lines.last().unwrap().message, "line 9999");
/// ```
pub fn fit_logs(logs: &[LogLine], tokens: usize) -> FittedLogs {
    let (lines, truncated) = fit_logs_bytes(logs, bytes(tokens));
    FittedLogs { lines: lines.into_owned(), truncated }
}

/// An [`Outcome`] as reported to a reader with a budget: its result and logs fitted together, the rest (error,
/// calls, metrics) as they are. It serialises as the outcome's JSON contract, with `"truncated": true` added when
/// anything was cut.
#[derive(Clone, Debug)]
pub struct FittedOutcome<'a> {
    outcome: &'a Outcome,
    result: Option<Cow<'a, Value>>,
    logs: Cow<'a, [LogLine]>,
    truncated: bool,
}

impl<'a> FittedOutcome<'a> {
    /// `outcome` with its result and logs fitted to `tokens` between them. Whichever of the two takes less than half
    /// the budget is kept whole and the other gets the rest; otherwise each gets half.
    ///
    /// # Examples
    /// ```
    /// use isobox_core::fit::FittedOutcome;
    /// use isobox_core::{Metrics, Outcome};
    /// use serde_json::json;
    ///
    /// let outcome = Outcome {
    ///     result: Ok(json!((0..100_000).collect::<Vec<u32>>())),
    ///     logs: Vec::new(),
    ///     calls: Vec::new(),
    ///     metrics: Metrics::default(),
    /// };
    /// let fitted = FittedOutcome::new(&outcome, 1000);
    /// assert!(fitted.truncated());
    /// let report = serde_json::to_value(&fitted).unwrap();
    /// assert_eq!(report["truncated"], true);
    /// assert!(report["result"].to_string().len() <= 4000);
    /// assert_eq!(outcome.result.unwrap().as_array().unwrap().len(), 100_000); // the outcome keeps it all
    /// ```
    pub fn new(outcome: &'a Outcome, tokens: usize) -> Self {
        let budget = bytes(tokens);
        let result = outcome.result.as_ref().ok();
        let result_bytes = result.map_or(Some(0), |value| measure(value, budget));
        let log_bytes = measure_logs(&outcome.logs, budget);
        if let (Some(result_bytes), Some(log_bytes)) = (result_bytes, log_bytes)
            && result_bytes + log_bytes <= budget
        {
            return Self::whole(outcome);
        }
        let half = budget / 2;
        let (result_budget, log_budget) = match (result_bytes, log_bytes) {
            (Some(result_bytes), _) if result_bytes <= half => (result_bytes, budget - result_bytes),
            (_, Some(log_bytes)) if log_bytes <= half => (budget - log_bytes, log_bytes),
            _ => (half, budget - half),
        };
        let result = result.map(|value| fit_bytes(value, result_budget));
        let (logs, logs_truncated) = fit_logs_bytes(&outcome.logs, log_budget);
        let result_truncated = result.as_ref().is_some_and(|fitted| fitted.truncated);
        Self {
            outcome,
            result: result.map(|fitted| Cow::Owned(fitted.value)),
            logs,
            truncated: result_truncated || logs_truncated,
        }
    }

    /// `outcome` as it is, with no budget.
    pub fn whole(outcome: &'a Outcome) -> Self {
        Self {
            outcome,
            result: outcome.result.as_ref().ok().map(Cow::Borrowed),
            logs: Cow::Borrowed(&outcome.logs),
            truncated: false,
        }
    }

    /// The fitted result, or the outcome's error.
    ///
    /// # Errors
    /// The outcome's own error, when the program produced no result.
    pub fn result(&self) -> Result<&Value, &SandboxError> {
        match (&self.result, &self.outcome.result) {
            (Some(value), _) => Ok(value),
            (None, Err(error)) => Err(error),
            (None, Ok(value)) => Ok(value),
        }
    }

    /// The fitted logs.
    pub fn logs(&self) -> &[LogLine] {
        &self.logs
    }

    /// Whether the result or the logs were cut.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The outcome in full.
    pub fn outcome(&self) -> &'a Outcome {
        self.outcome
    }
}

impl Serialize for FittedOutcome<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::outcome::Contract {
            ok: self.outcome.is_ok(),
            result: self.result.as_deref(),
            error: self.outcome.error(),
            logs: &self.logs,
            calls: &self.outcome.calls,
            metrics: &self.outcome.metrics,
            truncated: self.truncated,
        }
        .serialize(serializer)
    }
}

fn bytes(tokens: usize) -> usize {
    tokens.saturating_mul(BYTES_PER_TOKEN)
}

fn fit_bytes(value: &Value, budget: usize) -> Fitted {
    if measure(value, budget).is_some() {
        return Fitted { value: value.clone(), truncated: false };
    }
    let fitted = largest_fitting(budget, |level, budget| Cutter::new(level, budget).value(value, 0));
    Fitted { value: fitted, truncated: true }
}

fn fit_logs_bytes(logs: &[LogLine], budget: usize) -> (Cow<'_, [LogLine]>, bool) {
    if measure_logs(logs, budget).is_some() {
        return (Cow::Borrowed(logs), false);
    }
    let fitted = largest_fitting(budget, |level, budget| Cutter::new(level, budget).logs(logs));
    (Cow::Owned(fitted), true)
}

/// The cut form at the largest level (from 0 to `budget`) that fits `budget`, by bisection; the barest form (level
/// 0, whatever its size) when none does. A form is at least one byte per entry it keeps, so no level above `budget`
/// could fit, and each attempt stops as soon as it passes the budget.
fn largest_fitting<T>(budget: usize, cut: impl Fn(usize, usize) -> Option<T>) -> T {
    let (mut low, mut high, mut best) = (0, budget, None);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        match cut(middle, budget) {
            Some(form) => {
                best = Some(form);
                low = middle;
            }
            None => high = middle - 1,
        }
    }
    best.or_else(|| cut(0, budget)).or_else(|| cut(0, usize::MAX)).expect("an unbounded cut always succeeds")
}

/// The bytes of `value`'s compact JSON, or `None` past `limit` bytes or nested deeper than [`MAX_RESULT_DEPTH`].
/// Iterative and stopping at the limit, so that it is cheap on any value.
fn measure(value: &Value, limit: usize) -> Option<usize> {
    let mut size = 0usize;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::Array(items) => {
                size = size.saturating_add(2 + items.len().saturating_sub(1));
                if size > limit || depth >= MAX_RESULT_DEPTH {
                    return None;
                }
                stack.extend(items.iter().map(|item| (item, depth + 1)));
            }
            Value::Object(map) => {
                size = size.saturating_add(2 + map.len().saturating_sub(1));
                for key in map.keys() {
                    size = size.saturating_add(string_bytes(key) + 1);
                    if size > limit {
                        return None;
                    }
                }
                if size > limit || depth >= MAX_RESULT_DEPTH {
                    return None;
                }
                stack.extend(map.values().map(|item| (item, depth + 1)));
            }
            scalar => size = size.saturating_add(scalar_bytes(scalar)),
        }
        if size > limit {
            return None;
        }
    }
    Some(size)
}

/// The bytes of `logs`' JSON, or `None` past `limit`.
fn measure_logs(logs: &[LogLine], limit: usize) -> Option<usize> {
    let mut size = 2 + logs.len().saturating_sub(1);
    for line in logs {
        size = size.saturating_add(line_bytes(line.level, string_bytes(&line.message)));
        if size > limit {
            return None;
        }
    }
    (size <= limit).then_some(size)
}

/// The bytes of a console line's JSON, `{"level":"…","message":…}`, whose message takes `message_bytes`.
fn line_bytes(level: Level, message_bytes: usize) -> usize {
    r#"{"level":"","message":}"#.len() + level.as_str().len() + message_bytes
}

/// The bytes of `text` as a JSON string, quotes included.
fn string_bytes(text: &str) -> usize {
    usize::try_from(json_escaped_len(text)).unwrap_or(usize::MAX).saturating_add(2)
}

fn scalar_bytes(value: &Value) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a scalar to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// One attempt at a level: builds the cut form while counting its JSON bytes, and gives up (`None`) as soon as they
/// pass the budget.
struct Cutter {
    entries: usize,
    chars: usize,
    depth: usize,
    budget: usize,
    used: usize,
}

impl Cutter {
    fn new(level: usize, budget: usize) -> Self {
        Self {
            entries: level,
            chars: level.saturating_mul(CHARS_PER_LEVEL),
            depth: level.saturating_mul(2).min(MAX_RESULT_DEPTH),
            budget,
            used: 0,
        }
    }

    fn spend(&mut self, bytes: usize) -> Option<()> {
        self.used = self.used.saturating_add(bytes);
        (self.used <= self.budget).then_some(())
    }

    /// The marker `text` as a JSON string value.
    fn marker(&mut self, text: String) -> Option<Value> {
        self.spend(string_bytes(&text))?;
        Some(Value::String(text))
    }

    /// Recursion is bounded by `self.depth`, at most [`MAX_RESULT_DEPTH`]: a container at that depth is a marker.
    fn value(&mut self, value: &Value, depth: usize) -> Option<Value> {
        match value {
            Value::Array(items) if depth >= self.depth => {
                self.marker(format!("…[cut an array of {}]", counted(items.len(), "item")))
            }
            Value::Object(map) if depth >= self.depth => {
                self.marker(format!("…[cut an object of {}]", counted(map.len(), "key")))
            }
            Value::Array(items) => {
                let keep = items.len().min(self.entries);
                self.spend(2)?;
                let mut kept = Vec::new();
                for (index, item) in items[..keep].iter().enumerate() {
                    self.spend(usize::from(index > 0))?;
                    kept.push(self.value(item, depth + 1)?);
                }
                if keep < items.len() {
                    self.spend(usize::from(keep > 0))?;
                    kept.push(self.marker(format!("…[cut {}]", counted(items.len() - keep, "more item")))?);
                }
                Some(Value::Array(kept))
            }
            Value::Object(map) => {
                self.spend(2)?;
                let mut kept = Map::new();
                let mut left_out = map.len().saturating_sub(self.entries);
                for (key, item) in map.iter().take(self.entries) {
                    let key = self.string(key, 1)?;
                    // Two long keys cut to the same text: the second is left out, and counted as cut.
                    if kept.contains_key(&key) {
                        self.used -= string_bytes(&key) + 1;
                        left_out += 1;
                        continue;
                    }
                    self.spend(usize::from(!kept.is_empty()))?;
                    let item = self.value(item, depth + 1)?;
                    kept.insert(key, item);
                }
                if left_out > 0 {
                    let mut key = "…".to_string();
                    while kept.contains_key(&key) {
                        key.push('…');
                    }
                    self.spend(usize::from(!kept.is_empty()) + string_bytes(&key) + 1)?;
                    let marker = self.marker(format!("…[cut {}]", counted(left_out, "more key")))?;
                    kept.insert(key, marker);
                }
                Some(Value::Object(kept))
            }
            Value::String(text) => Some(Value::String(self.string(text, 0)?)),
            scalar => {
                self.spend(scalar_bytes(scalar))?;
                Some(scalar.clone())
            }
        }
    }

    /// `text` cut to this level's characters, with a marker, when that makes it shorter; its JSON bytes plus
    /// `extra` are spent.
    fn string(&mut self, text: &str, extra: usize) -> Option<String> {
        let room = self.budget.saturating_sub(self.used);
        if text.len() <= self.chars {
            self.spend(string_bytes(text) + extra)?;
            return Some(text.to_string());
        }
        // Every character kept is at least a byte: more than the room left cannot fit, cut or not (and this bounds
        // the scan below).
        if self.chars > room {
            return None;
        }
        let Some((cut, _)) = text.char_indices().nth(self.chars) else {
            self.spend(string_bytes(text) + extra)?;
            return Some(text.to_string());
        };
        let shortened = format!("{}…[cut {}]", &text[..cut], counted(text[cut..].chars().count(), "character"));
        let text = if string_bytes(&shortened) < string_bytes(text) { shortened } else { text.to_string() };
        self.spend(string_bytes(&text) + extra)?;
        Some(text)
    }

    fn logs(&mut self, logs: &[LogLine]) -> Option<Vec<LogLine>> {
        let keep = logs.len().min(self.entries);
        let (head, tail) = (keep.div_ceil(2), keep / 2);
        self.spend(2)?;
        let mut kept = Vec::new();
        let mut line = |cutter: &mut Self, level: Level, message: &str| {
            cutter.spend(usize::from(!kept.is_empty()) + line_bytes(level, 0))?;
            let message = cutter.string(message, 0)?;
            kept.push(LogLine { level, message });
            Some(())
        };
        for log in &logs[..head] {
            line(self, log.level, &log.message)?;
        }
        if keep < logs.len() {
            line(self, Level::Log, &format!("…[cut {}]", counted(logs.len() - keep, "line")))?;
        }
        for log in &logs[logs.len() - tail..] {
            line(self, log.level, &log.message)?;
        }
        Some(kept)
    }
}

/// `12,345 items`, `1 item`.
fn counted(count: usize, noun: &str) -> String {
    let digits = count.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let plural = if count == 1 { "" } else { "s" };
    format!("{grouped} {noun}{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metrics;
    use serde_json::json;

    /// The fitted text's bytes, checked against the documented bound.
    fn within(fitted: &Value, tokens: usize) -> usize {
        let text = fitted.to_string();
        assert!(text.len() <= tokens * BYTES_PER_TOKEN, "{} bytes over a budget of {tokens} tokens", text.len());
        text.len()
    }

    #[test]
    fn a_value_that_fits_is_unchanged() {
        for value in [json!(null), json!(1.5), json!("é"), json!({"a": [1, 2, {"b": "c"}]}), json!([])] {
            assert_eq!(fit(&value, 100), Fitted { value: value.clone(), truncated: false });
        }
        // Exactly at the budget is still within it.
        let value = json!("x".repeat(398));
        assert!(!fit(&value, 100).truncated);
        assert!(fit(&json!("x".repeat(399)), 100).truncated);
    }

    #[test]
    fn a_five_megabyte_string_is_cut_with_a_marker() {
        let value = json!("abc".repeat((5 << 20) / 3));
        let fitted = fit(&value, 1000);
        assert!(fitted.truncated);
        let size = within(&fitted.value, 1000);
        assert!(size > 3000, "most of the budget is used: {size}");
        let text = fitted.value.as_str().unwrap();
        assert!(text.starts_with("abcabc"), "{text}");
        let kept = text.find('…').unwrap();
        let cut = (5 << 20) / 3 * 3 - kept;
        assert!(text.ends_with(&format!("…[cut {}]", counted(cut, "character"))), "{}", &text[kept..]);
    }

    #[test]
    fn a_hundred_thousand_items_keep_a_prefix_and_say_how_many_were_cut() {
        let value = json!((0..100_000).collect::<Vec<u32>>());
        let fitted = fit(&value, 1000);
        assert!(fitted.truncated);
        within(&fitted.value, 1000);
        let items = fitted.value.as_array().unwrap();
        let kept = items.len() - 1;
        assert!(kept > 300, "{kept} items kept");
        assert_eq!(items[..kept], value.as_array().unwrap()[..kept]);
        assert_eq!(items[kept], json!(format!("…[cut {}]", counted(100_000 - kept, "more item"))));
    }

    #[test]
    fn cutting_is_fair_across_a_structure() {
        // 10,000 objects with a long text each: a prefix of items, each with its text shortened alike.
        let value: Value = (0..10_000).map(|id| json!({"id": id, "text": "word ".repeat(400)})).collect();
        let fitted = fit(&value, 6000);
        within(&fitted.value, 6000);
        let items = fitted.value.as_array().unwrap();
        assert!(items.len() > 10, "{} items", items.len());
        let kept = &items[..items.len() - 1];
        for (id, item) in kept.iter().enumerate() {
            assert_eq!(item["id"], id);
            assert_eq!(item["text"], kept[0]["text"]);
            assert!(item["text"].as_str().unwrap().ends_with("characters]"));
        }
        assert!(items.last().unwrap().as_str().unwrap().starts_with("…[cut "));

        // Small parts stay whole while a big one is cut.
        let value = json!({"name": "report", "count": 3, "rows": vec!["row"; 100_000]});
        let fitted = fit(&value, 500).value;
        assert_eq!((&fitted["name"], &fitted["count"]), (&json!("report"), &json!(3)));
        assert!(fitted["rows"].as_array().unwrap().len() > 100);
    }

    #[test]
    fn objects_with_too_many_keys_say_how_many_were_cut() {
        let value: Map<String, Value> = (0..50_000).map(|n| (format!("key{n:05}"), json!(n))).collect();
        let fitted = fit(&Value::Object(value), 300);
        within(&fitted.value, 300);
        let map = fitted.value.as_object().unwrap();
        let marker = map["…"].as_str().unwrap();
        assert_eq!(marker, format!("…[cut {}]", counted(50_000 - (map.len() - 1), "more key")));
        assert_eq!(map["key00000"], 0);
    }

    #[test]
    fn deep_nesting_is_cut_without_deep_recursion() {
        // Far deeper than serde_json parses or any backend returns, built without recursion.
        let mut value = json!("bottom");
        for _ in 0..100_000 {
            value = Value::Array(vec![value, json!("x".repeat(10))]);
        }
        let fitted = fit(&value, 1000);
        assert!(fitted.truncated);
        within(&fitted.value, 1000);
        let mut level = &fitted.value;
        let mut depth = 0;
        while let Some(items) = level.as_array() {
            level = &items[0];
            depth += 1;
        }
        assert!(depth <= MAX_RESULT_DEPTH, "{depth}");
        assert!(level.as_str().unwrap().starts_with("…[cut an array of 2 items]"), "{level}");
        // A small value nested past the bound is cut too, though it fits the budget.
        let mut narrow = json!(1);
        for _ in 0..MAX_RESULT_DEPTH + 1 {
            narrow = Value::Array(vec![narrow]);
        }
        assert!(fit(&narrow, 1000).truncated);
        // Values are dropped iteratively here, as serde_json's Drop recurses.
        for value in [value, narrow] {
            let mut stack = vec![value];
            while let Some(mut value) = stack.pop() {
                if let Some(items) = value.as_array_mut() {
                    stack.append(items);
                }
            }
        }
    }

    #[test]
    fn multi_byte_characters_are_cut_on_their_boundaries() {
        for unit in ["é", "€", "😀", "a\u{301}", "\u{1}\""] {
            let value = json!(unit.repeat(100_000));
            let fitted = fit(&value, 250);
            assert!(fitted.truncated);
            within(&fitted.value, 250);
            let text = fitted.value.as_str().unwrap();
            let (kept, marker) = text.split_at(text.find("…[cut ").unwrap());
            let cut: usize = marker["…[cut ".len()..].split(' ').next().unwrap().replace(',', "").parse().unwrap();
            assert_eq!(kept.chars().count() + cut, unit.chars().count() * 100_000, "{unit:?}");
        }
    }

    #[test]
    fn tiny_budgets_get_the_barest_form_within_the_margin() {
        let values = [json!("x".repeat(1000)), json!(vec![[1, 2]; 1000]), json!({"a": vec![0; 1000]})];
        for tokens in [0, 1, 5, 20] {
            for value in &values {
                let fitted = fit(value, tokens);
                assert!(fitted.truncated);
                let size = fitted.value.to_string().len();
                assert!(size <= (tokens * BYTES_PER_TOKEN).max(MARGIN_BYTES), "{tokens}: {}", fitted.value);
            }
        }
    }

    /// Values of every shape from a fixed pseudo-random sequence, each fitted to budgets from none to plenty.
    #[test]
    fn every_shape_fits_within_the_bound() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        // At most `left` values in all, so that nesting cannot multiply sizes.
        fn value(next: &mut impl FnMut(u64) -> u64, depth: u32, left: &mut usize) -> Value {
            const PIECES: [&str; 6] = ["a", "é", "😀", "\n", "\"", "\u{1}"];
            *left = left.saturating_sub(1);
            let count = |next: &mut dyn FnMut(u64) -> u64, left: &usize| [0, 2, 30, 500][next(4) as usize].min(*left);
            match next(if depth > 6 || *left == 0 { 4 } else { 6 }) {
                0 => Value::Null,
                1 => json!(next(1 << 40) as f64 / 7.0),
                2 | 3 => {
                    let length = [0, 3, 40, 2000][next(4) as usize];
                    Value::String((0..length).map(|_| PIECES[next(6) as usize]).collect())
                }
                4 => {
                    let items = count(next, left);
                    Value::Array((0..items).map(|_| value(next, depth + 1, left)).collect())
                }
                _ => {
                    let keys = count(next, left);
                    Value::Object(
                        (0..keys)
                            .map(|n| (format!("k{n}{}", "é".repeat(next(40) as usize)), value(next, depth + 1, left)))
                            .collect(),
                    )
                }
            }
        }
        for _ in 0..60 {
            let original = value(&mut next, 0, &mut 2000);
            let size = original.to_string().len();
            for tokens in [0, 3, 17, 100, 1000, 20_000] {
                let fitted = fit(&original, tokens);
                let fitted_size = fitted.value.to_string().len();
                assert!(fitted_size <= (tokens * BYTES_PER_TOKEN).max(MARGIN_BYTES), "{tokens}: {fitted_size}");
                assert_eq!(fitted.truncated, size > tokens * BYTES_PER_TOKEN, "{tokens}: {size}");
                if !fitted.truncated {
                    assert_eq!(fitted.value, original);
                }
            }
        }
    }

    #[test]
    fn fitting_is_deterministic() {
        let value: Value = (0..5_000).map(|n| json!({"n": n, "s": "é".repeat(n % 300)})).collect();
        assert_eq!(fit(&value, 777), fit(&value, 777));
    }

    fn lines(count: usize, message: impl Fn(usize) -> String) -> Vec<LogLine> {
        (0..count).map(|n| LogLine { level: Level::Info, message: message(n) }).collect()
    }

    #[test]
    fn logs_keep_their_first_and_last_lines() {
        let logs = lines(100_000, |n| format!("line {n}"));
        let fitted = fit_logs(&logs, 500);
        assert!(fitted.truncated);
        let text = serde_json::to_string(&fitted.lines).unwrap();
        assert!(text.len() <= 2000, "{}", text.len());
        let marker = fitted.lines.iter().position(|line| line.message.starts_with("…[cut ")).unwrap();
        assert_eq!(fitted.lines[..marker], logs[..marker]);
        let tail = fitted.lines.len() - marker - 1;
        assert_eq!(fitted.lines[marker + 1..], logs[logs.len() - tail..]);
        assert_eq!(fitted.lines[marker].message, format!("…[cut {}]", counted(100_000 - marker - tail, "line")));

        let few = lines(3, |n| n.to_string());
        assert_eq!(fit_logs(&few, 100), FittedLogs { lines: few, truncated: false });

        // One huge line is cut like a string.
        let fitted = fit_logs(&lines(1, |_| "y".repeat(5 << 20)), 100);
        assert!(fitted.truncated && fitted.lines[0].message.ends_with("characters]"));
        assert!(serde_json::to_string(&fitted.lines).unwrap().len() <= 400);
    }

    #[test]
    fn sizes_are_counted_as_serde_json_writes_them() {
        for value in [json!({"a\n": [1.5e300, -3, null, true, "\u{1}é"]}), json!([[], {}, ""])] {
            assert_eq!(measure(&value, usize::MAX), Some(value.to_string().len()));
        }
        let logs = lines(3, |n| format!("\"{n}\t"));
        assert_eq!(measure_logs(&logs, usize::MAX), Some(serde_json::to_string(&logs).unwrap().len()));
        assert_eq!(measure_logs(&[], usize::MAX), Some(2));
    }

    #[test]
    fn an_outcome_s_result_and_logs_share_the_budget() {
        let outcome = |result: Value, logs: Vec<LogLine>| Outcome {
            result: Ok(result),
            logs,
            calls: Vec::new(),
            metrics: Metrics::default(),
        };
        // Small logs stay whole; the result gets the rest.
        let big = outcome(json!("z".repeat(1 << 20)), lines(2, |n| n.to_string()));
        let fitted = FittedOutcome::new(&big, 1000);
        assert!(fitted.truncated());
        assert_eq!(fitted.logs(), big.logs.as_slice());
        let report = serde_json::to_value(&fitted).unwrap();
        assert_eq!(report["truncated"], true);
        assert!(report["result"].to_string().len() + serde_json::to_string(&report["logs"]).unwrap().len() <= 4000);
        assert_eq!(big.result.as_ref().unwrap().as_str().unwrap().len(), 1 << 20);

        // Both big: each gets half.
        let both = outcome(json!(vec![1; 100_000]), lines(100_000, |n| n.to_string()));
        let fitted = FittedOutcome::new(&both, 1000);
        let result = fitted.result().unwrap().to_string().len();
        let logs = serde_json::to_string(fitted.logs()).unwrap().len();
        assert!(result <= 2000 && logs <= 2000 && result + logs > 3000, "{result} + {logs}");

        // Within the budget: the outcome's own JSON, without `truncated`.
        let small = outcome(json!({"a": 1}), lines(2, |n| n.to_string()));
        let fitted = FittedOutcome::new(&small, 1000);
        assert!(!fitted.truncated());
        assert_eq!(serde_json::to_value(&fitted).unwrap(), serde_json::to_value(&small).unwrap());

        // A failed outcome's logs get the whole budget.
        let failed = Outcome {
            result: Err(SandboxError::internal("x")),
            ..outcome(json!(null), lines(1000, |_| "m".repeat(100)))
        };
        let fitted = FittedOutcome::new(&failed, 1000);
        assert!(fitted.truncated() && fitted.result().is_err());
        assert!(serde_json::to_string(fitted.logs()).unwrap().len() > 3000);
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(counted(0, "item"), "0 items");
        assert_eq!(counted(1, "item"), "1 item");
        assert_eq!(counted(999, "line"), "999 lines");
        assert_eq!(counted(123_456, "character"), "123,456 characters");
        assert_eq!(counted(9_800_000, "key"), "9,800,000 keys");
    }
}
