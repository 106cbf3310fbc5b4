//! The command line: arguments are parsed into plain structs ([`args`]),
//! turned into the library's nested configs and checked once into plans,
//! then run ([`runs`]). Nothing downstream re-checks user input. Library
//! input errors name a config key; here they are renamed to the flag the
//! user typed and exit with status 2.

pub mod args;
pub mod error;
pub mod recommend;
pub mod runs;
pub mod table;

use clap::{Parser, Subcommand};

pub use args::{
    BenchArgs, ExecutionArgs, MeasureArgs, MergeArgs, PaperArgs, ReportArgs, StudyArgs, SweepArgs,
    TheoryArgs, TrainArgs,
};
pub use error::CliError;

use crate::nn::{run_on, run_on_device, Registry};
use crate::report::plot::Format;
use crate::report::{write_report, StudyResults};
use crate::study::merge_shards;

/// The `variability` command line.
#[derive(Parser, Debug)]
#[command(
    name = "variability",
    version,
    about = "Variability of fully connected networks at a fixed parameter budget"
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `variability`, one variant each.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Measure randomly initialised networks: activation ratio, V3, collapse
    /// profile, C2C, gradient profile.
    Measure(MeasureArgs),
    /// Measure, then train on the problem (--problem, default the
    /// checkerboard), every network of a sweep.
    Train(TrainArgs),
    /// Run (or resume) a study described in a TOML file, or one shard of it.
    Study(StudyArgs),
    /// Merge the shards of a study (DIR/shards/i-of-n) into DIR, as one run
    /// would have written it; refuses a shard with a different config and
    /// says what is missing.
    Merge(MergeArgs),
    /// Draw every figure of a study from its results directory, and summary.md.
    Report(ReportArgs),
    /// The paper's figures: `study experiments/paper.toml`, then `report` into plots/.
    Paper(PaperArgs),
    /// Speed on this machine: networks measured and training steps per
    /// second on fixed shapes, GFLOP/s against an estimated peak, and the
    /// wall time of a small study. Prints a table and writes JSON.
    Bench(BenchArgs),
    /// Infinite-width theory of the scaled init: q*, the correlation map's
    /// fixed point, slope χ_c and depth scale ξ, and the predicted RV_l of
    /// each layer on the landscape grid. Prints a table and writes JSON.
    Theory(TheoryArgs),
    /// Rank candidate architectures of one budget by a measure at
    /// initialisation (default V3, the best predictor of the committed
    /// league), without training; `--verify K` trains the top and bottom K.
    Recommend(recommend::RecommendArgs),
}

/// Runs a parsed command line with the given activations and layer types.
pub fn run(cli: Cli, registry: &Registry) -> Result<(), CliError> {
    match cli.command {
        Command::Measure(args) => {
            let plan = args.plan(registry)?;
            run_on(plan.sweep.backend, plan)?
        }
        Command::Train(args) => {
            let plan = args.plan(registry)?;
            run_on(plan.sweep.backend, plan)?
        }
        Command::Study(args) => {
            let plan = args.plan(registry)?;
            run_on_device(plan.study.sweep.backend, args.device, plan)?
        }
        Command::Merge(args) => {
            let merged = merge_shards(&args.dir, registry)?;
            println!(
                "merged {} shards: {} networks into {}",
                merged.shards,
                merged.networks,
                args.dir.display()
            );
            Ok(())
        }
        Command::Report(args) => {
            let (results, out) = args.plan(registry)?;
            report(&results, &out, args.format, args.scale)
        }
        Command::Bench(args) => {
            let plan = args.plan(registry)?;
            run_on(plan.backend, plan)?
        }
        Command::Theory(args) => {
            let plan = args.plan(registry)?;
            runs::theory(&plan)
        }
        Command::Recommend(args) => {
            let plan = args.plan(registry)?;
            run_on(plan.backend(), plan)?
        }
        Command::Paper(args) => {
            let study = args.study(registry)?;
            let results_dir = study.dir.clone();
            run_on(study.study.sweep.backend, study)??;
            let results = StudyResults::load(&results_dir, registry)?;
            report(&results, &args.plots, Format::Png, args.scale)
        }
    }
}

fn report(
    results: &StudyResults,
    out: &std::path::Path,
    format: Format,
    scale: f64,
) -> Result<(), CliError> {
    if let Some(incomplete) = results.incomplete() {
        eprintln!("note: {}: {incomplete}", results.dir.display());
    }
    let written = write_report(results, out, format, scale)?;
    println!("{} files in {}", written.len(), out.display());
    Ok(())
}
