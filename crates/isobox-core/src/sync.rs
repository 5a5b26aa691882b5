//! Locks that outlive a panic: isobox's shared state stays usable after a thread panicked while holding it (each
//! holder leaves it consistent at every step), so a poisoned mutex is taken as it is rather than failing every later
//! request.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, poisoned or not.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
