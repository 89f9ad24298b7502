//! The application behind the origin's media routes: the learning API under `/api/v1`.

use std::future::Future;
use std::pin::Pin;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use lectern_api::extract::ClientAddr;
use lectern_origin::server::AppBody;
use tower_service::Service;

/// The API's router as the origin's [`lectern_origin::App`].
pub struct ApiApp(pub axum::Router);

impl lectern_origin::App for ApiApp {
    fn call(
        &self,
        request: Request<Incoming>,
        peer: std::net::SocketAddr,
    ) -> Pin<Box<dyn Future<Output = Response<AppBody>> + Send>> {
        let mut router = self.0.clone();
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
