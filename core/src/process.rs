//! Settings of the process the core runs in.

/// Keeps glibc's allocator to two arenas. By default every thread that meets a busy arena gets a new
/// one, up to eight per core; the short-lived threads of tokio's blocking pool (keychain calls, the
/// session file's writes) then leave freed memory scattered over many arenas, where no other thread
/// reuses it. Measured with 10,000 sessions refreshing every 5 to 10 s (`tests/bench/scale.rs`): 18 KiB
/// of resident memory per session with the default against 11 KiB with two arenas, at the same CPU
/// time per refresh. Call it first thing in `main`, before other threads start. Does nothing where
/// the C library is not glibc.
pub fn limit_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `mallopt` only sets a parameter of the allocator; M_ARENA_MAX with a positive value is
    // documented for any time in the process's life (it limits arenas created afterwards).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
