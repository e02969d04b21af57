//! Panics inside decoders, caught quietly: a hostile file that trips an assertion in a
//! dependency must cost that file one error line, not print `thread … panicked at …` text
//! beside it. [`quietly`] catches a panic and marks the thread while it runs; a binary's
//! panic hook asks [`is_quiet`] and stays silent for caught panics, printing all others.

use std::cell::Cell;

thread_local! {
    static QUIET: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f`, catching a panic as its message; while `f` runs, [`is_quiet`] is true on this
/// thread, so a panic hook that asks it prints nothing for a panic that is handled here.
///
/// # Errors
/// The panic's message when `f` panics.
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    QUIET.with(|q| q.set(q.get() + 1));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get().saturating_sub(1)));
    out.map_err(|payload| message(&*payload))
}

/// Whether the current thread is inside [`quietly`], so its panic will be caught and
/// reported as an error.
pub fn is_quiet() -> bool {
    QUIET.with(|q| q.get() > 0)
}

/// The text a panic payload carries.
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_is_its_message_and_quiet_only_while_caught() {
        assert!(!is_quiet());
        let r: Result<(), String> = quietly(|| {
            assert!(is_quiet());
            panic!("bad header {}", 7)
        });
        assert_eq!(r, Err("bad header 7".to_string()));
        assert!(!is_quiet());
        assert_eq!(quietly(|| 3), Ok(3));
        // Nested: still quiet inside, not after.
        let _ = quietly(|| quietly(|| assert!(is_quiet())));
        assert!(!is_quiet());
    }
}
