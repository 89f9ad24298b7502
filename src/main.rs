//! `lectern`: the thin binary. Parses flags, loads the configuration, and runs a subcommand.
//!
//! # Layout
//! - `pipeline`: upload → transcoder → packager, shared by every command that makes a ladder.
//! - `data`: the data directory (database, object store, signing key) `serve` and `import` share.
//! - `catalog`: the origin's catalog answered from the database.
//! - `app`: the learning API plugged in behind the origin's media routes.
//! - `jobs`: the API's transcoder (uploads through the pipeline).
//! - `package_cmd`: `lectern package INPUT --out DEST`, offline packaging with a progress bar.
//! - `import_cmd`: `lectern import FILE`, a file into the data directory as a ready video.
//! - `serve_cmd`: `lectern serve`, the HTTP origin and the API.
//! - `user_cmd`: `lectern user create`, accounts from the command line (the first admin).
//! - `web`: the web app (the build of `web/`, embedded) at `/`.

mod app;
mod catalog;
mod data;
mod import_cmd;
mod jobs;
mod package_cmd;
mod pipeline;
mod serve_cmd;
mod user_cmd;
mod web;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than glibc's allocator: the origin's hot path allocates a few small
/// buffers per request from two threads, where glibc's arenas cost ~5 % of CPU (perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status for a bad configuration (EX_CONFIG would be 78; 64 is EX_USAGE, as linkerd does).
const EXIT_CONFIG: u8 = 64;

/// Lectern: an open-source video origin for learning.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML); LECTERN_* environment variables override it.
    #[arg(long, global = true, env = "LECTERN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Transcode a video file into an HLS + DASH ladder in DEST (a directory or file:// URL).
    Package(package_cmd::PackageArgs),
    /// Serve videos to players and CDNs (HLS, DASH, signed URLs).
    Serve(serve_cmd::ServeArgs),
    /// Transcode a file into the data directory as a ready video; prints its playback URLs.
    Import(import_cmd::ImportArgs),
    /// Manage accounts (`lectern user create NAME --email E --role admin`).
    User(user_cmd::UserArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LECTERN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match lectern_config::Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("lectern: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lectern: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Package(args) => package_cmd::run(args, &config).await,
            Command::Serve(args) => serve_cmd::run(args, &config).await,
            Command::Import(args) => import_cmd::run(args, &config).await,
            Command::User(args) => user_cmd::run(args, &config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lectern: {e:#}");
            ExitCode::FAILURE
        }
    }
}
