//! `lectern package INPUT --out DEST`: one file to a finished HLS + DASH ladder, offline.
//!
//! DEST is a directory (created if missing, refused if it holds anything) or a `file://` URL.
//! The input is probed before DEST is touched, so a bad input leaves nothing behind. A failure
//! later, or Ctrl-C, empties DEST again (everything in it is this run's) and removes it if this
//! run created it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lectern_config::{Config, parse_ladder};
use lectern_packager::{DASH_MANIFEST, MASTER_PLAYLIST, PackageSummary};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;

use crate::pipeline::{self, PackageJob, Progress};

/// Arguments of `lectern package`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The video (or audio) file to package.
    input: PathBuf,
    /// Where to write: a directory, or a file:// URL.
    #[arg(long, short)]
    out: String,
    /// Segment duration in seconds (default from the configuration: 4).
    #[arg(long)]
    segment_seconds: Option<u32>,
    /// Rungs by short side, e.g. 1080,720,360 (HEIGHT:KBPS sets a bitrate).
    #[arg(long)]
    ladder: Option<String>,
}

/// A local destination directory and whether this run created it.
struct Destination {
    dir: PathBuf,
    created: bool,
}

fn destination(out: &str) -> anyhow::Result<PathBuf> {
    if let Some(rest) = out.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if out.contains("://") {
        bail!("destination {out}: only directories and file:// URLs are supported by this build");
    }
    Ok(PathBuf::from(out))
}

fn prepare(dir: &Path) -> anyhow::Result<Destination> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "destination {} is not empty; choose a new directory (outputs are never mixed)",
                    dir.display()
                );
            }
            Ok(Destination {
                dir: dir.to_path_buf(),
                created: false,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Ok(Destination {
                dir: dir.to_path_buf(),
                created: true,
            })
        }
        Err(e) => Err(e).with_context(|| format!("cannot use {} as destination", dir.display())),
    }
}

fn progress_bar(total: Option<Duration>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total.map_or(0, |d| d.as_millis() as u64));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Runs the command.
pub async fn run(args: PackageArgs, config: &Config) -> anyhow::Result<()> {
    let mut media = config.media.clone();
    if let Some(seconds) = args.segment_seconds {
        media.segment_seconds = seconds;
    }
    let ladder = match &args.ladder {
        Some(text) => parse_ladder(text, &media).map_err(|e| anyhow::anyhow!("--ladder: {e}"))?,
        None => media.ladder.clone(),
    };
    let problems = Config {
        media: lectern_config::MediaConfig {
            ladder: ladder.clone(),
            ..media.clone()
        },
        ..config.clone()
    }
    .problems();
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    let dir = destination(&args.out)?;
    let info = pipeline::probe(&args.input, &media).await?;

    let dest = prepare(&dir)?;
    let store: Arc<dyn ObjectStore> = Arc::new(
        LocalFileSystem::new_with_prefix(&dest.dir)
            .with_context(|| format!("cannot open {}", dest.dir.display()))?
            .with_automatic_cleanup(true),
    );
    let job = PackageJob {
        input: args.input.clone(),
        media,
        ladder,
    };
    let started = Instant::now();
    let bar = progress_bar(info.duration);
    let on_progress = |p: Progress| {
        let elapsed = started.elapsed().as_secs_f64().max(0.001);
        let speed = p.done.as_secs_f64() / elapsed;
        bar.set_position(p.done.as_millis() as u64);
        bar.set_message(format!(
            "{} / {}  {speed:.2}× realtime",
            clock(p.done),
            p.total.map_or_else(|| "?".to_string(), clock)
        ));
    };
    let result = tokio::select! {
        result = pipeline::package(&job, &info, store, StorePath::default(), on_progress) => {
            result.map_err(anyhow::Error::from)
        }
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; nothing was kept")),
    };
    bar.finish_and_clear();
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            // DEST was empty when the run began: whatever is in it now is this run's.
            clear(&dest.dir)?;
            if dest.created {
                std::fs::remove_dir(&dest.dir)
                    .with_context(|| format!("cannot remove {}", dest.dir.display()))?;
            }
            return Err(e);
        }
    };
    print_summary(&args.input, &dest.dir, &summary, started.elapsed());
    Ok(())
}

/// Removes everything inside `dir`, keeping `dir`.
fn clear(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(())
}

fn print_summary(input: &Path, dir: &Path, summary: &PackageSummary, wall: Duration) {
    println!("packaged {} → {}", input.display(), dir.display());
    for r in &summary.renditions {
        let size = r
            .resolution()
            .map_or_else(String::new, |(w, h)| format!(" {w}x{h}"));
        println!(
            "  {:<6}{size:<11} {:<12} {:>6} kb/s avg {:>6} kb/s peak  {} segments",
            r.spec.name,
            r.codecs,
            r.average_bitrate() / 1000,
            r.peak_bitrate() / 1000,
            r.segments.len()
        );
    }
    let media_seconds = summary.duration_seconds;
    println!(
        "  {} renditions, {} segments, {} in {} objects; {:.1} s of media in {:.1} s ({:.2}× realtime)",
        summary.renditions.len(),
        summary.segments(),
        human_bytes(summary.bytes),
        summary.objects,
        media_seconds,
        wall.as_secs_f64(),
        media_seconds / wall.as_secs_f64().max(0.001)
    );
    println!(
        "  HLS:  {}\n  DASH: {}",
        dir.join(MASTER_PLAYLIST).display(),
        dir.join(DASH_MANIFEST).display()
    );
}
