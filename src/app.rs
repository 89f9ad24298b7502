//! The application behind the origin's media routes: the learning API under `/api/v1` and
//! the web app at every other GET.

use std::future::Future;
use std::pin::Pin;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use lectern_api::extract::ClientAddr;
use lectern_origin::server::AppBody;
use tower_service::Service;

/// The API's router and the web app, as the origin's [`lectern_origin::App`].
pub struct ApiApp {
    /// The learning API (it also answers 404 for anything else).
    pub router: axum::Router,
    /// The web app's files.
    pub web: crate::web::WebApp,
}

impl lectern_origin::App for ApiApp {
    fn call(
        &self,
        request: Request<Incoming>,
        peer: std::net::SocketAddr,
    ) -> Pin<Box<dyn Future<Output = Response<AppBody>> + Send>> {
        let path = request.uri().path();
        let method = request.method();
        if !path.starts_with("/api/")
            && (method == hyper::Method::GET || method == hyper::Method::HEAD)
            && let Some(response) = self.web.respond(method, path, request.headers())
        {
            return Box::pin(std::future::ready(response));
        }
        let mut router = self.router.clone();
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ClientAddr(peer.ip()));
        Box::pin(async move {
            let response = match router.call(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            response.map(|body| body.map_err(|e| e.into_inner()).boxed_unsync())
        })
    }
}

/// The media side as the API sees it: playback URLs signed like `lectern import` signs them,
/// and removal of stored media and cached copies.
pub struct MediaHooks {
    /// Signs playback tokens.
    pub signer: lectern_origin::Signer,
    /// Where playback URLs point and how long tokens live.
    pub config: lectern_config::Config,
    /// The object store.
    pub store: std::sync::Arc<dyn object_store::ObjectStore>,
    /// The origin, once built (it is built with the API inside it, so it comes second).
    pub origin: std::sync::OnceLock<std::sync::Weak<lectern_origin::Origin>>,
}

impl lectern_api::Media for MediaHooks {
    fn playback(&self, video_id: &str, user: Option<&str>) -> lectern_api::Playback {
        let (hls, dash, expires_at) =
            crate::import_cmd::sign_urls(&self.signer, &self.config, video_id, user);
        lectern_api::Playback {
            hls,
            dash,
            expires_at,
        }
    }

    fn changed<'a>(&'a self, video_id: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Some(origin) = self.origin.get().and_then(std::sync::Weak::upgrade) {
                origin.forget(video_id, None).await;
            }
        })
    }

    fn remove<'a>(
        &'a self,
        video_id: &'a str,
        prefix: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(origin) = self.origin.get().and_then(std::sync::Weak::upgrade) {
                origin.forget(video_id, prefix).await;
            }
            let Some(prefix) = prefix else {
                return Ok(());
            };
            delete_prefix(self.store.as_ref(), prefix).await
        })
    }
}

/// Deletes every object under `prefix` (a missing one is fine).
pub async fn delete_prefix(
    store: &dyn object_store::ObjectStore,
    prefix: &str,
) -> Result<(), String> {
    use futures_util::StreamExt;
    use object_store::ObjectStoreExt;
    let prefix = object_store::path::Path::from(prefix);
    let mut listing = store.list(Some(&prefix));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| e.to_string())?;
        match store.delete(&meta.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}
