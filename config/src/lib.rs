//! Lectern's one typed configuration.
//!
//! Settings come from built-in defaults, then an optional `lectern.toml`, then `LECTERN_*`
//! environment variables, in that order. The defaults need nothing installed beyond the setup
//! step: data under `./data`, the local disk as object store.
//!
//! # Layout
//! - [`Config`]: the whole configuration, [`Config::load`] reads and checks it.
//! - [`MediaConfig`], [`Rung`]: how uploads become a ladder (segment length, rungs, encoder).
//! - [`ConfigError`]: every problem found, reported at once.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where data lives when nothing else is configured.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default segment duration in seconds (every rung gets a keyframe this often).
pub const DEFAULT_SEGMENT_SECONDS: u32 = 4;
/// Default audio bitrate in kb/s (AAC-LC, stereo, 48 kHz).
pub const DEFAULT_AUDIO_KBPS: u32 = 128;
/// Default longest upload accepted, in seconds (6 hours: a long lecture day).
pub const DEFAULT_MAX_DURATION_SECONDS: u64 = 6 * 60 * 60;
/// Default x264 speed preset.
pub const DEFAULT_X264_PRESET: &str = "veryfast";
/// Default number of B-frames between references.
pub const DEFAULT_BFRAMES: u32 = 2;

/// Default listen address of `lectern serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default life of a playback token in seconds (12 hours: outlasts any lecture).
pub const DEFAULT_TOKEN_SECONDS: u64 = 12 * 60 * 60;
/// Default memory cache size in MiB.
pub const DEFAULT_MEMORY_CACHE_MIB: u64 = 512;

/// Environment variable overriding [`ServerConfig::listen`].
pub const ENV_LISTEN: &str = "LECTERN_LISTEN";
/// Environment variable overriding [`ServerConfig::public_base_url`].
pub const ENV_PUBLIC_BASE_URL: &str = "LECTERN_PUBLIC_BASE_URL";
/// Environment variable overriding [`ServerConfig::redis_url`].
pub const ENV_REDIS_URL: &str = "LECTERN_REDIS_URL";
/// Environment variable overriding [`Config::data_dir`].
pub const ENV_DATA_DIR: &str = "LECTERN_DATA_DIR";
/// Environment variable overriding [`MediaConfig::segment_seconds`].
pub const ENV_SEGMENT_SECONDS: &str = "LECTERN_SEGMENT_SECONDS";
/// Environment variable overriding [`MediaConfig::max_duration_seconds`].
pub const ENV_MAX_DURATION_SECONDS: &str = "LECTERN_MAX_DURATION_SECONDS";
/// Environment variable overriding [`MediaConfig::x264_preset`].
pub const ENV_X264_PRESET: &str = "LECTERN_X264_PRESET";
/// Environment variable overriding [`MediaConfig::ladder`], as `HEIGHT[:KBPS],...`.
pub const ENV_LADDER: &str = "LECTERN_LADDER";
/// Overrides `server.max_upload_mib`.
pub const ENV_MAX_UPLOAD_MIB: &str = "LECTERN_MAX_UPLOAD_MIB";
/// Overrides `server.sendfile` (`on`/`off`, `true`/`false`, `1`/`0`).
pub const ENV_SENDFILE: &str = "LECTERN_SENDFILE";

const X264_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

/// Every problem found while loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file named.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file named.
        path: PathBuf,
        /// What the parser said.
        source: Box<toml::de::Error>,
    },
    /// One or more values are out of range; each line is one problem.
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the database, the local object store and uploads.
    pub data_dir: PathBuf,
    /// How uploads become a ladder.
    pub media: MediaConfig,
    /// The HTTP server.
    pub server: ServerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            media: MediaConfig::default(),
            server: ServerConfig::default(),
        }
    }
}

/// The HTTP server (`lectern serve`) and the URLs it hands out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Absolute base for playback URLs (`https://videos.example.edu`); relative when unset.
    pub public_base_url: Option<String>,
    /// `Access-Control-Allow-Origin` for media.
    pub cors_origin: String,
    /// Memory cache size in MiB.
    pub memory_cache_mib: u64,
    /// Life of a playback token in seconds.
    pub token_seconds: u64,
    /// Concurrent connections.
    pub max_connections: usize,
    /// Seconds a client has to send its request headers; also how long an idle keep-alive
    /// connection is kept (the wait for the next request's headers is the same timer).
    pub header_read_timeout_seconds: u64,
    /// HTTP worker threads, each with its own runtime and listening socket; 0 = one per core.
    pub workers: usize,
    /// Largest upload accepted, in MiB.
    pub max_upload_mib: u64,
    /// Send large media objects from the local store's files with sendfile(2) (like nginx's
    /// `sendfile on`) rather than copying them from memory into sockets.
    pub sendfile: bool,
    /// Redis for the shared cache tier (`redis://127.0.0.1:6379`); none by default.
    pub redis_url: Option<String>,
    /// Largest object kept in Redis, in KiB.
    pub redis_max_object_kib: u64,
    /// Time to live of objects in Redis, in seconds.
    pub redis_ttl_seconds: u64,
    /// Longest a Redis operation may take, in milliseconds, before it counts as a failure.
    pub redis_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_string(),
            public_base_url: None,
            cors_origin: "*".to_string(),
            memory_cache_mib: DEFAULT_MEMORY_CACHE_MIB,
            token_seconds: DEFAULT_TOKEN_SECONDS,
            max_connections: 10_000,
            header_read_timeout_seconds: 10,
            workers: 0,
            max_upload_mib: 1024,
            sendfile: true,
            redis_url: None,
            redis_max_object_kib: 8 * 1024,
            redis_ttl_seconds: 24 * 60 * 60,
            redis_timeout_ms: 50,
        }
    }
}

/// How an upload becomes an adaptive ladder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Segment duration in seconds; every rung has a keyframe at each multiple of it.
    pub segment_seconds: u32,
    /// The video rungs, any order; rungs taller than the source are dropped.
    pub ladder: Vec<Rung>,
    /// Audio bitrate in kb/s.
    pub audio_kbps: u32,
    /// Longest input accepted, in seconds.
    pub max_duration_seconds: u64,
    /// x264 speed preset (`ultrafast` … `veryslow`).
    pub x264_preset: String,
    /// B-frames between reference frames (0 disables them).
    pub bframes: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            segment_seconds: DEFAULT_SEGMENT_SECONDS,
            ladder: default_ladder(),
            audio_kbps: DEFAULT_AUDIO_KBPS,
            max_duration_seconds: DEFAULT_MAX_DURATION_SECONDS,
            x264_preset: DEFAULT_X264_PRESET.to_string(),
            bframes: DEFAULT_BFRAMES,
        }
    }
}

/// One video rung: its short side in pixels and its target bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Short side of the picture in pixels (height for landscape, width for portrait).
    pub height: u32,
    /// Target video bitrate in kb/s.
    pub kbps: u32,
}

/// The default ladder: 1080p 5000, 720p 2800, 480p 1400, 360p 800, 240p 400 kb/s.
pub fn default_ladder() -> Vec<Rung> {
    [
        (1080, 5000),
        (720, 2800),
        (480, 1400),
        (360, 800),
        (240, 400),
    ]
    .into_iter()
    .map(|(height, kbps)| Rung { height, kbps })
    .collect()
}

/// A bitrate for a rung height the ladder does not list: the default ladder's bits per pixel.
pub fn kbps_for_height(height: u32) -> u32 {
    // 5000 kb/s at 1080 lines is about 2.4 kb/s per thousand pixels at 16:9.
    let pixels = f64::from(height) * f64::from(height) * 16.0 / 9.0;
    ((pixels / 1000.0 * 2.41).round() as u32).clamp(100, 50_000)
}

impl MediaConfig {
    /// The ladder restricted to the given heights, keeping configured bitrates where known.
    pub fn ladder_for_heights(&self, heights: &[u32]) -> Vec<Rung> {
        heights
            .iter()
            .map(|&height| {
                let kbps = self
                    .ladder
                    .iter()
                    .find(|r| r.height == height)
                    .map_or_else(|| kbps_for_height(height), |r| r.kbps);
                Rung { height, kbps }
            })
            .collect()
    }
}

/// Parses a ladder written as `HEIGHT[:KBPS],...`, e.g. `1080,720:2500,360`.
pub fn parse_ladder(text: &str, media: &MediaConfig) -> Result<Vec<Rung>, String> {
    let mut rungs = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (h, k) = match part.split_once(':') {
            Some((h, k)) => (h, Some(k)),
            None => (part, None),
        };
        let height: u32 = h
            .trim_end_matches('p')
            .parse()
            .map_err(|_| format!("ladder entry {part:?}: height is not a number"))?;
        let kbps = match k {
            Some(k) => k
                .parse()
                .map_err(|_| format!("ladder entry {part:?}: bitrate is not a number"))?,
            None => media.ladder_for_heights(&[height])[0].kbps,
        };
        rungs.push(Rung { height, kbps });
    }
    if rungs.is_empty() {
        return Err("the ladder is empty".to_string());
    }
    Ok(rungs)
}

impl Config {
    /// Loads the defaults, then `file` if given, then the `LECTERN_*` environment, and checks it.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        let env: Vec<(String, String)> = std::env::vars().collect();
        let mut problems = config.apply_env(&env);
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Parses a TOML file (unknown keys are an error).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// Applies `LECTERN_*` overrides from `env`; returns one line per unparsable value.
    pub fn apply_env(&mut self, env: &[(String, String)]) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, value) in env {
            let bad = |what: &str| format!("{key}={value:?}: {what}");
            match key.as_str() {
                ENV_DATA_DIR => self.data_dir = PathBuf::from(value),
                ENV_LISTEN => self.server.listen = value.clone(),
                ENV_PUBLIC_BASE_URL => self.server.public_base_url = Some(value.clone()),
                ENV_REDIS_URL => self.server.redis_url = Some(value.clone()),
                ENV_SEGMENT_SECONDS => match value.parse() {
                    Ok(v) => self.media.segment_seconds = v,
                    Err(_) => problems.push(bad("not a whole number of seconds")),
                },
                ENV_MAX_DURATION_SECONDS => match value.parse() {
                    Ok(v) => self.media.max_duration_seconds = v,
                    Err(_) => problems.push(bad("not a whole number of seconds")),
                },
                ENV_X264_PRESET => self.media.x264_preset = value.clone(),
                ENV_MAX_UPLOAD_MIB => match value.parse() {
                    Ok(v) => self.server.max_upload_mib = v,
                    Err(_) => problems.push(bad("not a whole number of MiB")),
                },
                ENV_SENDFILE => match value.to_ascii_lowercase().as_str() {
                    "on" | "true" | "1" => self.server.sendfile = true,
                    "off" | "false" | "0" => self.server.sendfile = false,
                    _ => problems.push(bad("on or off")),
                },
                ENV_LADDER => match parse_ladder(value, &self.media) {
                    Ok(l) => self.media.ladder = l,
                    Err(e) => problems.push(bad(&e)),
                },
                _ => {}
            }
        }
        problems
    }

    /// Every out-of-range value, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let m = &self.media;
        if !(1..=30).contains(&m.segment_seconds) {
            p.push(format!(
                "media.segment_seconds = {}: must be 1 to 30",
                m.segment_seconds
            ));
        }
        if m.ladder.is_empty() {
            p.push("media.ladder is empty: at least one rung is needed".to_string());
        }
        for r in &m.ladder {
            if !(16..=4320).contains(&r.height) {
                p.push(format!(
                    "media.ladder height {}: must be 16 to 4320",
                    r.height
                ));
            }
            if !(50..=100_000).contains(&r.kbps) {
                p.push(format!(
                    "media.ladder rung {}: {} kb/s must be 50 to 100000",
                    r.height, r.kbps
                ));
            }
        }
        if !(32..=512).contains(&m.audio_kbps) {
            p.push(format!(
                "media.audio_kbps = {}: must be 32 to 512",
                m.audio_kbps
            ));
        }
        if m.max_duration_seconds == 0 {
            p.push("media.max_duration_seconds must be above 0".to_string());
        }
        if !X264_PRESETS.contains(&m.x264_preset.as_str()) {
            p.push(format!(
                "media.x264_preset = {:?}: must be one of {}",
                m.x264_preset,
                X264_PRESETS.join(", ")
            ));
        }
        if m.bframes > 4 {
            p.push(format!("media.bframes = {}: must be 0 to 4", m.bframes));
        }
        let srv = &self.server;
        if srv.listen.parse::<std::net::SocketAddr>().is_err() {
            p.push(format!(
                "server.listen = {:?}: must be an address like 127.0.0.1:8080",
                srv.listen
            ));
        }
        if let Some(base) = &srv.public_base_url
            && !(base.starts_with("http://") || base.starts_with("https://"))
        {
            p.push(format!(
                "server.public_base_url = {base:?}: must start with http:// or https://"
            ));
        }
        if srv.max_upload_mib == 0 {
            p.push("server.max_upload_mib must be above 0".to_string());
        }
        if srv.token_seconds < 60 {
            p.push("server.token_seconds must be at least 60".to_string());
        }
        if srv.max_connections == 0 || srv.header_read_timeout_seconds == 0 {
            p.push("server.max_connections and header_read_timeout_seconds must be above 0".into());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().problems(), Vec::<String>::new());
        assert_eq!(Config::default().media.ladder.len(), 5);
    }

    #[test]
    fn file_overrides_and_unknown_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lectern.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/lectern\"\n[media]\nsegment_seconds = 6\nladder = [{ height = 720, kbps = 3000 }]\n",
        )
        .expect("write");
        let c = Config::from_file(&path).expect("parse");
        assert_eq!(c.data_dir, PathBuf::from("/srv/lectern"));
        assert_eq!(c.media.segment_seconds, 6);
        assert_eq!(
            c.media.ladder,
            vec![Rung {
                height: 720,
                kbps: 3000
            }]
        );
        assert_eq!(c.media.audio_kbps, DEFAULT_AUDIO_KBPS);

        std::fs::write(&path, "[media]\nsegment_secs = 6\n").expect("write");
        let err = Config::from_file(&path).expect_err("unknown key");
        assert!(err.to_string().contains("segment_secs"), "{err}");
    }

    #[test]
    fn env_overrides_and_every_problem_reported() {
        let mut c = Config::default();
        let env = vec![
            (ENV_SEGMENT_SECONDS.to_string(), "x".to_string()),
            (ENV_LADDER.to_string(), "720,360:600".to_string()),
            (ENV_X264_PRESET.to_string(), "warp".to_string()),
        ];
        let problems = c.apply_env(&env);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(ENV_SEGMENT_SECONDS));
        assert_eq!(
            c.media.ladder,
            vec![
                Rung {
                    height: 720,
                    kbps: 2800
                },
                Rung {
                    height: 360,
                    kbps: 600
                }
            ]
        );
        c.media.segment_seconds = 0;
        let problems = c.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn ladder_parsing() {
        let m = MediaConfig::default();
        assert!(parse_ladder("", &m).is_err());
        assert!(parse_ladder("abc", &m).is_err());
        assert_eq!(parse_ladder("1080p", &m).expect("ok")[0].kbps, 5000);
        assert_eq!(parse_ladder("900", &m).expect("ok")[0].kbps, 3470);
    }
}
