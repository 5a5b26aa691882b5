//! `isobox bench --soak`: many requests at high concurrency, one in ten of them hostile, the rest ordinary programs
//! writing to `kv`. It checks what a serving host must guarantee under that load: every hostile request ends with its
//! documented error kind, every ordinary request returns its right answer, no `kv` write acknowledged to a program is
//! lost, and the process is left as it was found (memory, file descriptors, threads).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use isobox_capabilities::Capabilities;
use isobox_capabilities::backend::CallOutcome;
use isobox_core::{Backend, Limits, Request};
use isobox_kv::KvStore;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::memory::rss_kib;

/// How a soak run is shaped.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    /// Requests in all.
    pub requests: u64,
    /// Requests running at once.
    pub concurrency: usize,
    /// The run stops starting requests after this long (what it did by then is checked as usual).
    pub time_limit: Duration,
}

/// One hostile program and the error kind it must end with.
struct Hostile {
    name: &'static str,
    code: &'static str,
    kind: &'static str,
}

/// One in ten requests is one of these, in turn.
const HOSTILE: [Hostile; 10] = [
    Hostile { name: "endless loop", code: "for (;;) {}", kind: "timeout" },
    Hostile {
        name: "memory bomb",
        code: "const a = []; for (;;) a.push(new Array(1 << 16).fill(1.5));",
        kind: "memory",
    },
    Hostile { name: "stack bomb", code: "function f(n) { return f(n + 1) + 1 }\nreturn f(0)", kind: "stack_overflow" },
    Hostile { name: "log flood", code: "for (;;) console.log('x'.repeat(1000))", kind: "output_limit" },
    // `indexOf` makes V8 flatten the rope `repeat` builds: 100 MB of string either way.
    Hostile { name: "100 MB string", code: "const s = 'x'.repeat(100 << 20);\nreturn s.indexOf('y')", kind: "memory" },
    Hostile { name: "never settles", code: "await new Promise(() => {})", kind: "exception" },
    Hostile {
        name: "ungranted capability",
        code: "return await http.fetch('https://example.com/')",
        kind: "exception",
    },
    Hostile { name: "wrong-typed call", code: "return await kv.set(42, { not: 'a string' })", kind: "exception" },
    Hostile { name: "syntax error", code: "return (1 +", kind: "syntax" },
    Hostile {
        name: "forged outcome",
        code: "Object.prototype.toJSON = () => ({ kind: 'internal' });\nthrow new Error('boom')",
        kind: "exception",
    },
];

/// What every ordinary request does: read its key (absent), write it, read it back, count itself.
const ORDINARY: &str = "const before = await kv.get(input.key);\n\
                        await kv.set(input.key, input.value);\n\
                        const after = await kv.get(input.key);\n\
                        const count = await kv.increment('count', 1);\n\
                        return { before, after, counted: count > 0 };";

/// Ordinary requests are spread over this many tenants.
const TENANTS: u64 = 16;

/// What a soak run saw.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    /// The backend soaked, `wasm` or `v8`.
    pub backend: String,
    /// Requests made and counted, hostile ones included (the warm-up bursts before them are not).
    pub requests: u64,
    /// How many of `requests` ran a hostile program.
    pub hostile: u64,
    /// Wall-clock time of the counted requests, in milliseconds.
    pub elapsed_ms: u64,
    /// `requests` over the elapsed time.
    pub requests_per_second: f64,
    /// Outcomes by kind (`ok` for a result), over all requests.
    pub outcomes: BTreeMap<String, u64>,
    /// Hostile requests by program, each with the kinds they ended with.
    pub hostile_outcomes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Requests whose outcome was not the one expected (the first few, described).
    pub wrong: Vec<String>,
    /// Requests whose outcome was not the one expected, all of them; the run failed if this is not 0.
    pub wrong_count: u64,
    /// Writes acknowledged to a program and not found afterwards.
    pub lost_writes: u64,
    /// The process's resident memory, in KiB, once the first tenth of the requests had ended.
    pub rss_kib_after_warm_up: u64,
    /// The process's resident memory, in KiB, after the last request.
    pub rss_kib_at_end: u64,
    /// Open file descriptors of the process after the warm-up bursts, before the counted requests.
    pub fds_at_start: usize,
    /// Open file descriptors of the process after the last request; more than at start means a leak.
    pub fds_at_end: usize,
    /// Threads of the process after the warm-up bursts, before the counted requests.
    pub threads_at_start: usize,
    /// Threads of the process after the last request; more than at start means a leak.
    pub threads_at_end: usize,
}

impl SoakReport {
    /// A report on `backend` with nothing counted yet.
    fn empty(backend: &str) -> Self {
        SoakReport {
            backend: backend.to_string(),
            requests: 0,
            hostile: 0,
            elapsed_ms: 0,
            requests_per_second: 0.0,
            outcomes: BTreeMap::new(),
            hostile_outcomes: BTreeMap::new(),
            wrong: Vec::new(),
            wrong_count: 0,
            lost_writes: 0,
            rss_kib_after_warm_up: 0,
            rss_kib_at_end: 0,
            fds_at_start: 0,
            fds_at_end: 0,
            threads_at_start: 0,
            threads_at_end: 0,
        }
    }

    /// Why the run failed, if it did: wrong outcomes, lost writes, memory that grew by more than 10 % (plus `slack_kib`,
    /// for runs too short for the allocator to settle), or file descriptors or threads left behind.
    pub fn failures(&self, slack_kib: u64) -> Vec<String> {
        let mut failures = Vec::new();
        if self.wrong_count > 0 {
            failures.push(format!("{} requests had the wrong outcome", self.wrong_count));
        }
        if self.lost_writes > 0 {
            failures.push(format!("{} acknowledged writes were lost", self.lost_writes));
        }
        if self.rss_kib_at_end > self.rss_kib_after_warm_up * 11 / 10 + slack_kib {
            failures.push(format!(
                "resident memory grew from {} KiB to {} KiB",
                self.rss_kib_after_warm_up, self.rss_kib_at_end
            ));
        }
        if self.fds_at_end > self.fds_at_start {
            failures.push(format!("file descriptors: {} at start, {} at end", self.fds_at_start, self.fds_at_end));
        }
        if self.threads_at_end > self.threads_at_start {
            failures.push(format!("threads: {} at start, {} at end", self.threads_at_start, self.threads_at_end));
        }
        failures
    }

    /// Adds one ended request to the figures, and to `written` when its write was acknowledged.
    fn count(&mut self, (i, tally): (u64, Tally), written: &mut Written) {
        self.requests += 1;
        *self.outcomes.entry(tally.kind.clone()).or_default() += 1;
        if let Some(name) = tally.hostile {
            self.hostile += 1;
            *self.hostile_outcomes.entry(name.to_string()).or_default().entry(tally.kind).or_default() += 1;
        }
        if let Some(wrong) = tally.wrong {
            self.wrong_count += 1;
            if self.wrong.len() < 10 {
                self.wrong.push(wrong);
            }
        }
        if tally.written {
            written.insert(i);
        }
    }

    /// The figures as a few lines of text.
    pub fn text(&self) -> String {
        let kinds: Vec<String> = self.outcomes.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
        format!(
            "soak · {} backend · {} requests ({} hostile) in {:.1} s · {:.0} requests/s\n  \
             outcomes: {}\n  wrong outcomes: {} · lost writes: {}\n  \
             RSS after the first 10 %: {} KiB, at the end: {} KiB\n  \
             file descriptors: {} → {} · threads: {} → {}\n",
            self.backend,
            self.requests,
            self.hostile,
            self.elapsed_ms as f64 / 1000.0,
            self.requests_per_second,
            kinds.join(", "),
            self.wrong_count,
            self.lost_writes,
            self.rss_kib_after_warm_up,
            self.rss_kib_at_end,
            self.fds_at_start,
            self.fds_at_end,
            self.threads_at_start,
            self.threads_at_end,
        )
    }
}

/// The capabilities a soak run's backends offer: `kv` over a store in `dir`.
///
/// # Errors
/// The store cannot be opened there.
pub fn capabilities(dir: &Path) -> Result<Capabilities, String> {
    let store = KvStore::open(&dir.join("soak-kv.redb")).map_err(|error| error.to_string())?;
    let mut capabilities = Capabilities::new();
    capabilities.register(store.capability()).map_err(|error| error.to_string())?;
    Ok(capabilities)
}

/// The outcome of one request, as the run tallies it.
struct Tally {
    kind: String,
    hostile: Option<&'static str>,
    /// A description when the outcome was not the expected one.
    wrong: Option<String>,
    /// Whether this was an ordinary request whose write was acknowledged ([`write`] tells which).
    written: bool,
}

/// Runs the soak on `backend`, whose capabilities must be [`capabilities`] (the same store, for checking writes).
pub async fn soak(backend: Arc<dyn Backend>, capabilities: &Capabilities, options: &SoakOptions) -> SoakReport {
    let run_id =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_micros());
    // Bursts at full concurrency make the backend set up what it keeps before anything is counted: its pool and
    // threads or worker processes, the runtime's blocking threads, and the memory each pooled sandbox keeps resident
    // between requests once a program has used it all (a memory bomb in every slot at once).
    for bomb in [true, false] {
        let mut warming = JoinSet::new();
        for i in 0..options.concurrency.max(1) as u64 {
            let backend = Arc::clone(&backend);
            let request = if bomb {
                let limits = Limits { memory_bytes: 32 << 20, ..Limits::default() };
                Request::new(HOSTILE[1].code).with_limits(limits)
            } else {
                let input = json!({ "key": format!("warm-up-{i}"), "value": "warm" });
                ordinary(tenant(run_id, i % TENANTS), input)
            };
            warming.spawn(async move { backend.run(&request).await });
        }
        warming.join_all().await;
    }
    let fds_at_start = count_dir("/proc/self/fd");
    let threads_at_start = count_dir("/proc/self/task");
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut running = JoinSet::new();
    // Each request is counted as it ends, and of an acknowledged write only one bit is kept (which request made it: its
    // tenant, key and value follow from that), so that what the run itself holds hardly grows with the number of
    // requests: it is part of the memory being checked.
    let mut report = SoakReport { fds_at_start, threads_at_start, ..SoakReport::empty(backend.name()) };
    let mut written = Written::default();
    let mut rss_kib_after_warm_up = None;
    let warm_up = (options.requests / 10).max(1);
    let mut sent = 0;
    while sent < options.requests && started.elapsed() < options.time_limit {
        let slot = Arc::clone(&slots).acquire_owned().await.expect("the semaphore is never closed");
        let backend = Arc::clone(&backend);
        let i = sent;
        running.spawn(async move {
            let tally = one(backend.as_ref(), run_id, i).await;
            drop(slot);
            (i, tally)
        });
        sent += 1;
        while let Some(done) = running.try_join_next() {
            report.count(done.expect("a soak request does not panic"), &mut written);
        }
        if rss_kib_after_warm_up.is_none() && report.requests >= warm_up {
            rss_kib_after_warm_up = rss_kib();
        }
    }
    while let Some(done) = running.join_next().await {
        report.count(done.expect("a soak request does not panic"), &mut written);
    }
    let elapsed = started.elapsed();
    report.elapsed_ms = elapsed.as_millis() as u64;
    report.requests_per_second = report.requests as f64 / elapsed.as_secs_f64().max(1e-9);
    report.rss_kib_after_warm_up = rss_kib_after_warm_up.or_else(rss_kib).unwrap_or(0);
    report.lost_writes = lost_writes(capabilities, run_id, &written).await;
    // Sandboxes are disposed of after their outcome is delivered, and the runtime's idle blocking threads end after ten
    // seconds: give them that long.
    let settle = Instant::now();
    let (mut fds_at_end, mut threads_at_end) = (count_dir("/proc/self/fd"), count_dir("/proc/self/task"));
    while (fds_at_end > fds_at_start || threads_at_end > threads_at_start) && settle.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        (fds_at_end, threads_at_end) = (count_dir("/proc/self/fd"), count_dir("/proc/self/task"));
    }

    report.rss_kib_at_end = rss_kib().unwrap_or(0);
    (report.fds_at_end, report.threads_at_end) = (fds_at_end, threads_at_end);
    report
}

/// Request `i`: hostile when `i` is a multiple of ten, ordinary otherwise.
async fn one(backend: &dyn Backend, run_id: u128, i: u64) -> Tally {
    if i.is_multiple_of(10) {
        let hostile = &HOSTILE[(i / 10) as usize % HOSTILE.len()];
        // Only the endless loop needs the deadline; the others end by their own limit, however loaded the machine.
        let timeout = if hostile.kind == "timeout" { 100 } else { 10_000 };
        let limits = Limits {
            timeout: Duration::from_millis(timeout),
            memory_bytes: 32 << 20,
            output_bytes: 256 << 10,
            ..Limits::default()
        };
        let request = Request::new(hostile.code).with_grants(["kv"]).with_tenant("soak-hostile").with_limits(limits);
        let outcome = backend.run(&request).await;
        let kind = outcome.result.as_ref().err().map_or("ok", |error| error.kind()).to_string();
        let wrong = (kind != hostile.kind)
            .then(|| format!("{} ended as {kind} ({:?}), not {}", hostile.name, outcome.result, hostile.kind));
        return Tally { kind, hostile: Some(hostile.name), wrong, written: false };
    }
    let (tenant, key, value) = write(run_id, i);
    let request = ordinary(tenant, json!({ "key": key, "value": value }));
    let outcome = backend.run(&request).await;
    let expected = json!({ "before": null, "after": value, "counted": true });
    match outcome.result {
        Ok(result) if result == expected => Tally { kind: "ok".into(), hostile: None, wrong: None, written: true },
        Ok(result) => Tally {
            kind: "ok".into(),
            hostile: None,
            wrong: Some(format!("ordinary request {i} returned {result}, not {expected}")),
            written: false,
        },
        Err(error) => Tally {
            kind: error.kind().to_string(),
            hostile: None,
            wrong: Some(format!("ordinary request {i} failed: {error:?}")),
            written: false,
        },
    }
}

/// An ordinary request: [`ORDINARY`] run as `tenant` with `input` (`{key, value}`).
fn ordinary(tenant: String, input: Value) -> Request {
    let limits = Limits { timeout: Duration::from_secs(30), memory_bytes: 32 << 20, ..Limits::default() };
    Request::new(ORDINARY).with_grants(["kv"]).with_tenant(tenant).with_limits(limits).with_input(input)
}

fn tenant(run_id: u128, index: u64) -> String {
    format!("soak-{run_id}-{index}")
}

/// What ordinary request `i` writes: its tenant, key and value.
fn write(run_id: u128, i: u64) -> (String, String, String) {
    (tenant(run_id, i % TENANTS), format!("k{i}"), format!("v{i}-{}", "x".repeat((i % 64) as usize)))
}

/// Which requests' writes were acknowledged: one bit per request.
#[derive(Default)]
struct Written(Vec<u64>);

impl Written {
    fn insert(&mut self, i: u64) {
        let word = (i / 64) as usize;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (i % 64);
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().enumerate().flat_map(|(word, &bits)| {
            (0..64).filter(move |bit| bits & (1 << bit) != 0).map(move |bit| word as u64 * 64 + bit)
        })
    }
}

/// Reads back every acknowledged write through the `kv` capability itself (no sandbox involved); returns how many are
/// missing or different.
async fn lost_writes(capabilities: &Capabilities, run_id: u128, written: &Written) -> u64 {
    let Some(get) = capabilities
        .get("kv")
        .and_then(|kv| kv.functions.iter().position(|function| function.name == "get"))
        .map(|index| index as u32)
    else {
        return written.iter().count() as u64;
    };
    let mut lost = 0;
    for i in written.iter() {
        let (tenant, key, value) = write(run_id, i);
        let limits = Limits { host_calls: 1, ..Limits::default() };
        let request = Request::new("").with_grants(["kv"]).with_tenant(tenant).with_limits(limits);
        let found = match capabilities.host_calls(&request) {
            Ok(mut calls) => match calls.begin(0, get, json!([key]).to_string().as_bytes()) {
                Ok(pending) => match pending.finish().await {
                    CallOutcome::Return(text) => serde_json::from_str::<Value>(&text).ok(),
                    _ => None,
                },
                Err(_) => None,
            },
            Err(_) => None,
        };
        if found.as_ref().and_then(Value::as_str) != Some(value.as_str()) {
            lost += 1;
        }
    }
    lost
}

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map_or(0, |entries| entries.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_gives_back_each_request_inserted_in_order() {
        let mut written = Written::default();
        for i in [130, 0, 63, 64, 7, 1_000_001, 64] {
            written.insert(i);
        }
        assert_eq!(written.iter().collect::<Vec<_>>(), [0, 7, 63, 64, 130, 1_000_001]);
        // One bit per request up to the highest: what the run keeps does not grow with what each request wrote.
        assert_eq!(written.0.len(), 1_000_001 / 64 + 1);
    }

    #[test]
    fn counting_keeps_the_figures_and_which_writes_were_acknowledged() {
        let mut report = SoakReport::empty("test");
        let mut written = Written::default();
        let ok = |written| Tally { kind: "ok".into(), hostile: None, wrong: None, written };
        report.count((1, ok(true)), &mut written);
        report.count((2, ok(false)), &mut written);
        let bomb = Tally { kind: "memory".into(), hostile: Some("memory bomb"), wrong: None, written: false };
        report.count((10, bomb), &mut written);
        let wrong = Tally { kind: "timeout".into(), hostile: None, wrong: Some("late".into()), written: false };
        report.count((3, wrong), &mut written);
        assert_eq!(report.requests, 4);
        assert_eq!(report.hostile, 1);
        assert_eq!(report.outcomes, BTreeMap::from([("ok".into(), 2), ("memory".into(), 1), ("timeout".into(), 1)]));
        assert_eq!(report.hostile_outcomes["memory bomb"]["memory"], 1);
        assert_eq!((report.wrong_count, report.wrong.clone()), (1, vec!["late".to_string()]));
        assert_eq!(written.iter().collect::<Vec<_>>(), [1]);
    }
}
