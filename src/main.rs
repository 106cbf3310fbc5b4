//! `variability`: a thin binary over the library — parse, run, map errors to
//! exit codes (2 for bad input, 1 for a failure while running).

use clap::Parser;
use variability::cli::{run, Cli};
use variability::nn::Registry;

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli, &Registry::builtin()) {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
}
