//! The body of every response the server sends: a media object from memory (the hot path), or
//! whatever the application behind the origin made.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};

/// An application's error while streaming a body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body made by the application behind the origin (the API, the web app).
pub type AppBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// Either kind of body.
#[derive(Debug)]
pub enum ResponseBody {
    /// A media object or an origin error: complete in memory.
    Media(Full<Bytes>),
    /// The application's body.
    App(AppBody),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Both variants are Unpin, so the enum is too: no projection needed.
        match self.get_mut() {
            Self::Media(full) => match Pin::new(full).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            Self::App(app) => Pin::new(app).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Media(full) => full.is_end_stream(),
            Self::App(app) => app.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Media(full) => full.size_hint(),
            Self::App(app) => app.size_hint(),
        }
    }
}
