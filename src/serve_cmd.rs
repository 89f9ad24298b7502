//! `lectern serve`: the origin on the data directory, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use lectern_config::Config;
use lectern_origin::{Origin, OriginConfig};

use crate::catalog::SqlCatalog;
use crate::data::DataDir;

/// Arguments of `lectern serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default from the configuration: 127.0.0.1:8080; port 0 picks one).
    #[arg(long)]
    listen: Option<String>,
    /// Data directory (default from the configuration: ./data).
    #[arg(long)]
    data: Option<PathBuf>,
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Raises the open-file limit to its hard maximum, as nginx's `worker_rlimit_nofile` does:
/// every connection is a descriptor, and so is every large cached segment (kept open for
/// sendfile). Debian's default soft limit of 1024 would cap connections near a thousand.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
    }
}

/// Runs the command.
pub async fn run(args: ServeArgs, config: &Config) -> anyhow::Result<()> {
    raise_open_file_limit();
    let listen = args.listen.unwrap_or_else(|| config.server.listen.clone());
    let data = args.data.unwrap_or_else(|| config.data_dir.clone());
    let dir = DataDir::open(&data).await?;
    let wanted = tokio::net::lookup_host(&listen)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .with_context(|| format!("cannot resolve listen address {listen}"))?;
    let workers = match config.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let listeners = lectern_origin::server::bind_workers(wanted, workers)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listeners[0].local_addr()?;
    let s = &config.server;
    let media = Arc::new(crate::app::MediaHooks {
        signer: dir.signer.clone(),
        config: config.clone(),
        store: dir.store.clone(),
        origin: std::sync::OnceLock::new(),
    });
    let api_state = lectern_api::AppState::new(
        dir.db.clone(),
        &dir.jwt_secret,
        lectern_api::ApiConfig {
            public_base_url: config.server.public_base_url.clone().unwrap_or_default(),
            uploads_dir: data.join("uploads"),
            max_upload_bytes: config.server.max_upload_mib * 1024 * 1024,
        },
        media.clone(),
    );
    let web = crate::web::WebApp::new(config.server.public_base_url.as_deref());
    if !web.is_built() {
        tracing::warn!("the web app is not in this build (web/dist was missing): run ./setup.sh");
    }
    let origin = Arc::new(
        Origin::new(
            OriginConfig {
                cors_origin: s.cors_origin.clone(),
                max_connections: s.max_connections,
                header_read_timeout: Duration::from_secs(s.header_read_timeout_seconds),
                memory_cache_bytes: s.memory_cache_mib * 1024 * 1024,
                redis: s
                    .redis_url
                    .as_ref()
                    .map(|url| lectern_origin::redis_tier::RedisConfig {
                        url: url.clone(),
                        max_object_bytes: (s.redis_max_object_kib * 1024) as usize,
                        ttl: Duration::from_secs(s.redis_ttl_seconds),
                        timeout: Duration::from_millis(s.redis_timeout_ms),
                    }),
                local_store_root: s.sendfile.then(|| data.join("store")),
            },
            dir.signer.clone(),
            Arc::new(SqlCatalog(dir.db.clone())),
            dir.store.clone(),
        )
        .context("bad server.redis_url")?
        .with_app(Arc::new(crate::app::ApiApp {
            router: lectern_api::router(api_state.clone()),
            web,
        })),
    );
    let _ = media.origin.set(Arc::downgrade(&origin));
    // The line tests and scripts wait for: the real address (port 0 resolved).
    println!(
        "lectern: listening on http://{addr} ({workers} workers, data in {})",
        data.display()
    );
    // Transcode jobs run beside the server and stop with it (an interrupted job is taken
    // back at the next start).
    let (stop_jobs, jobs_stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_views, views_stopped) = tokio::sync::oneshot::channel::<()>();
    let flusher = tokio::spawn(lectern_api::views::run_flusher(api_state.clone(), async {
        let _ = views_stopped.await;
    }));
    let worker = tokio::spawn(lectern_api::jobs::run_worker(
        api_state,
        Arc::new(crate::jobs::PipelineTranscoder {
            store: dir.store.clone(),
            config: config.clone(),
        }),
        async {
            let _ = jobs_stopped.await;
        },
    ));
    lectern_origin::server::serve_workers(listeners, origin, shutdown_signal())
        .await
        .context("cannot start the HTTP workers")?;
    let _ = stop_jobs.send(());
    let _ = stop_views.send(());
    let _ = worker.await;
    let _ = flusher.await;
    eprintln!("lectern: stopped");
    Ok(())
}
