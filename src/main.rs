//! `variability`: a thin binary over the library — parse, run, map errors to
//! exit codes (2 for bad input, 1 for a failure while running).

use clap::Parser;
use variability::cli::{run, Cli};
use variability::nn::Registry;

/// mimalloc, not the system allocator: glibc hands each freed multi-MB
/// tensor back to the kernel and page-faults the next one in, which slows a
/// wide network's training step several times (docs/backends.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // SIGINT and SIGTERM say what the run kept, after any write in progress.
    // Without a handler the signal's default still stops the process.
    let _ = ctrlc::set_handler(|| variability::study::interrupt::interrupted());
    let cli = Cli::parse();
    if let Err(error) = run(cli, &Registry::builtin()) {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
}
