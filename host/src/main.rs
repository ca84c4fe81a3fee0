//! The `weft` command.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a webhook execution allocates
/// and frees thousands of small JSON, template and sled values across
/// worker threads, and under load glibc malloc took about a quarter of the
/// server's CPU (`make bench` profile) and kept per-thread arenas resident.
/// Built without transparent huge pages (`no_thp`): with them, memory the
/// start-up compiles freed stayed resident in 2 MiB pages (an idle server
/// with every built-in registered held ~145 MiB instead of ~65 MiB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its option enum's index in the
/// bundled v3; the `-sys` crate names only older options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    return_freed_memory_at_once();
    quiet_broken_pipe();
    weft::cli::main()
}

/// mimalloc hands freed pages back to the OS only a second after they
/// were freed (its v3 default), so a server just out of a burst still
/// held the burst's memory: ~20 MiB more when idle, ~45 MiB more right
/// after the webhook benchmarks, at the same throughput. Purge at once.
fn return_freed_memory_at_once() {
    // SAFETY: `mi_option_set` stores an integer option; the purge delay
    // is read each time mimalloc decides to purge, any value is valid,
    // and nothing else runs yet.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

/// `weft … | head` closes stdout under a command still printing; the
/// `println!` that hits the closed pipe panics (exit 101 and a panic
/// message). The reader chose to stop, so exit quietly with 0 instead, as
/// `cat` and `ls` end without complaint. Every other panic keeps the
/// default report.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout")
            && message.to_ascii_lowercase().contains("broken pipe")
        {
            std::process::exit(0);
        }
        default(info);
    }));
}
