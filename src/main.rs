//! `variability`: a thin binary over the library — parse, run, map errors to
//! exit codes (2 for bad input, 1 for a failure while running).

use clap::Parser;
use variability::activation::ActivationRegistry;
use variability::cli::{run, Cli};

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli, &ActivationRegistry::builtin()) {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
}
