//! The process's memory, as the kernel counts it, with that of its child processes: the V8 backend's sandboxes live
//! in worker processes, and their memory is theirs.

/// Resident set size, in KiB (`Rss` of `smaps_rollup`), of this process and its children.
pub fn rss_kib() -> Option<u64> {
    with_children("Rss:")
}

/// Proportional set size, in KiB (`Pss` of `smaps_rollup`), of this process and its children: shared pages count once
/// in total.
pub fn pss_kib() -> Option<u64> {
    with_children("Pss:")
}

fn with_children(name: &str) -> Option<u64> {
    let me = std::process::id().to_string();
    let mut total = field(&format!("/proc/{me}/smaps_rollup"), name)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The parent's pid is the second field after the command name, which is in parentheses.
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if parent == Some(me.as_str()) {
            // A child that ended meanwhile counts nothing.
            total += field(&entry.path().join("smaps_rollup").to_string_lossy(), name).unwrap_or(0);
        }
    }
    Some(total)
}

fn field(path: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_process_memory_with_its_children() {
        let alone = super::rss_kib().expect("Linux reports Rss");
        assert!(alone > 0);
        // A child holding a few MiB of its own adds them.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "x=$(head -c 16000000 /dev/zero | tr '\\0' a); sleep 5"])
            .spawn()
            .unwrap();
        let mut with_child = alone;
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            with_child = super::rss_kib().unwrap();
            if with_child > alone + 8_000 {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(with_child > alone + 8_000, "{alone} KiB alone, {with_child} KiB with the child");
    }
}
