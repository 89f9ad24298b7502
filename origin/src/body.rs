//! The body of every response the server sends: a media object from memory (the hot path), or
//! whatever the application behind the origin made.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// An application's error while streaming a body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body made by the application behind the origin (the API, the web app).
pub type AppBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// Largest frame a media body hands to hyper at once: a big segment goes out as slices of
/// the cached object (no copy), so one connection's write does not stream megabytes through
/// the CPU cache in one go while the others wait.
pub const MEDIA_FRAME: usize = 256 * 1024;

/// A complete in-memory body (a media object or an origin error), sent in frames of at most
/// [`MEDIA_FRAME`] bytes.
#[derive(Debug, Default)]
pub struct MediaBody {
    rest: Bytes,
    /// The file `rest` was read from, and where `rest[0]` is in it (for sendfile).
    file: Option<(std::sync::Arc<std::fs::File>, u64)>,
}

impl MediaBody {
    /// A body of `bytes`.
    pub fn new(bytes: Bytes) -> Self {
        Self {
            rest: bytes,
            file: None,
        }
    }

    /// A body of `bytes`, which are `file` from `offset` on (the connection may send them
    /// with sendfile).
    pub fn from_file(bytes: Bytes, file: std::sync::Arc<std::fs::File>, offset: u64) -> Self {
        Self {
            rest: bytes,
            file: Some((file, offset)),
        }
    }

    /// What the connection registers before sending this body, if it came from a file.
    pub fn file_span(&self) -> Option<crate::sendfile::FileSpan> {
        let (file, offset) = self.file.as_ref()?;
        (!self.rest.is_empty()).then(|| crate::sendfile::FileSpan {
            bytes: self.rest.clone(),
            file: file.clone(),
            offset: *offset,
        })
    }
}

impl Body for MediaBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        // A file-backed body goes in one frame: the connection sends it with sendfile, so
        // there is no copy to keep cache-sized.
        let n = if this.file.is_some() {
            this.rest.len()
        } else {
            this.rest.len().min(MEDIA_FRAME)
        };
        Poll::Ready(Some(Ok(Frame::data(this.rest.split_to(n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

/// Either kind of body.
#[derive(Debug)]
pub enum ResponseBody {
    /// A media object or an origin error: complete in memory.
    Media(MediaBody),
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
