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

fn main() -> ExitCode {
    quiet_broken_pipe();
    weft::cli::main()
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
