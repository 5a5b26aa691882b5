//! The process's memory, as the kernel counts it.

/// Resident set size, in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> Option<u64> {
    field("/proc/self/status", "VmRSS:")
}

/// Proportional set size, in KiB (`/proc/self/smaps_rollup`): shared pages count once in total.
pub fn pss_kib() -> Option<u64> {
    field("/proc/self/smaps_rollup", "Pss:")
}

fn field(path: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_process_memory() {
        let rss = super::rss_kib().expect("Linux reports VmRSS");
        assert!(rss > 0);
    }
}
