//! CPU time as the OS counts it per thread: what [`Limits::cpu_time`](crate::Limits::cpu_time) is measured in.

use std::time::Duration;

/// The CPU-time clock of one thread, readable from any thread of the process.
#[derive(Clone, Copy, Debug)]
pub struct ThreadCpuClock(libc::clockid_t);

impl ThreadCpuClock {
    /// The calling thread's clock.
    pub fn current() -> Self {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: a plain call with a valid out-pointer; it fails only for a thread that has ended.
        if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } != 0 {
            clock = libc::CLOCK_THREAD_CPUTIME_ID;
        }
        Self(clock)
    }

    /// The CPU time the thread has used so far (zero if the clock cannot be read).
    pub fn now(self) -> Duration {
        read(self.0)
    }
}

/// The CPU time the calling thread has used so far.
pub fn thread_cpu_time() -> Duration {
    read(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn read(clock: libc::clockid_t) -> Duration {
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a plain system call with a valid out-pointer.
    if unsafe { libc::clock_gettime(clock, &mut time) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(time.tv_sec.max(0) as u64, time.tv_nsec.clamp(0, 999_999_999) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_uses_cpu_time_and_a_sleeping_one_does_not() {
        let clock = ThreadCpuClock::current();
        let before = clock.now();
        let mut x = 0u64;
        while clock.now() - before < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu_time() >= before + Duration::from_millis(20));
        // Read from another thread, the clock is still this one's: it does not move while this thread sleeps.
        let (sender, receiver) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let first = clock.now();
            receiver.recv().unwrap();
            clock.now() - first
        });
        std::thread::sleep(Duration::from_millis(50));
        sender.send(()).unwrap();
        assert!(reader.join().unwrap() < Duration::from_millis(40));
    }
}
