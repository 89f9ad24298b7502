//! `lectern import FILE`: transcode and package a file into the data directory as a ready
//! video, and print its signed playback URLs as one JSON line.
//!
//! The presentation is written under `media/{id}/{rev}/` first; the database row that makes it
//! visible is inserted only after the manifests are written, in one statement. A failed run
//! deletes what it wrote and leaves no row. It works while `lectern serve` runs on the same data.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use lectern_api::NewVideo;
use lectern_config::Config;
use object_store::path::Path as StorePath;

use crate::data::{DataDir, new_id};
use crate::pipeline::{self, PackageJob};

/// Arguments of `lectern import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The video file.
    input: PathBuf,
    /// Title (default: the file name).
    #[arg(long)]
    title: Option<String>,
    /// Anyone may watch it, also unsigned under /media/{id}/{rev}/.
    #[arg(long)]
    public: bool,
    /// Data directory (default from the configuration: ./data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Username of the owner (default: none).
    #[arg(long)]
    owner: Option<String>,
}

/// Signed playback URLs for `video_id` (for `user`, if given), relative or under the
/// configured base URL: (HLS, DASH, expiry).
pub fn sign_urls(
    signer: &lectern_origin::Signer,
    config: &Config,
    video_id: &str,
    user: Option<&str>,
) -> (String, String, u64) {
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + config.server.token_seconds;
    let token = signer.sign(video_id, expires, user);
    let base = config
        .server
        .public_base_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    (
        format!("{base}/play/{token}/{video_id}/master.m3u8"),
        format!("{base}/play/{token}/{video_id}/manifest.mpd"),
        expires,
    )
}

/// Runs the command.
pub async fn run(args: ImportArgs, config: &Config) -> anyhow::Result<()> {
    let data = args.data.unwrap_or_else(|| config.data_dir.clone());
    let info = pipeline::probe(&args.input, &config.media).await?;
    let dir = DataDir::open(&data).await?;
    let owner = match &args.owner {
        Some(name) => Some(
            dir.db
                .user_id(name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user called {name}"))?,
        ),
        None => None,
    };
    let id = new_id()?;
    let rev = new_id()?;
    let prefix = format!("media/{id}/{rev}");
    let job = PackageJob {
        input: args.input.clone(),
        media: config.media.clone(),
        ladder: config.media.ladder.clone(),
    };
    let summary = pipeline::package(
        &job,
        &info,
        dir.store.clone(),
        StorePath::from(prefix.as_str()),
        |_| {},
    )
    .await?;
    let title = args.title.unwrap_or_else(|| {
        args.input
            .file_stem()
            .map_or_else(|| id.clone(), |s| s.to_string_lossy().into_owned())
    });
    let duration = Duration::from_secs_f64(summary.duration_seconds.max(0.0));
    let poster = pipeline::write_poster(
        dir.store.as_ref(),
        &prefix,
        &args.input,
        summary.duration_seconds,
    )
    .await;
    dir.db
        .insert_ready_video(&NewVideo {
            id: &id,
            title: &title,
            prefix: &prefix,
            public: args.public,
            duration_ms: duration.as_millis() as u64,
            owner: owner.as_deref(),
            renditions: &crate::pipeline::renditions_json(&summary),
            poster: poster.as_deref(),
        })
        .await?;
    let (hls, dash, expires) = sign_urls(&dir.signer, config, &id, None);
    let mut line = serde_json::json!({ "id": id, "hls": hls, "dash": dash, "expires_at": expires });
    if args.public {
        line["media"] = serde_json::Value::String(format!("/{prefix}/master.m3u8"));
    }
    println!("{line}");
    Ok(())
}
