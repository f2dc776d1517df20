//! The `mosaic-bot` binary: parses the command line and runs it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mosaic_bot::cli::run(mosaic_bot::cli::Cli::parse())
}
