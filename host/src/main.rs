//! The `switchyard` binary: parse the command line, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

// Every request allocates a little (its body, events, jobs, the delivery's payload) on many
// threads; mimalloc keeps that off the profile and keeps RSS from fragmenting.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = switchyard::cli::Cli::parse();
    match switchyard::cli::main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
