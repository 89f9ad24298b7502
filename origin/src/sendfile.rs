//! Zero-copy sends of large media objects with sendfile(2).
//!
//! Writing a cached 2.5 MB segment from memory makes the kernel copy it into the socket: at a
//! thousand connections that copy was 60 % of the origin's CPU (perf), and what nginx, sending
//! with sendfile, never pays. hyper owns the connection and writes byte buffers; it knows
//! nothing of files. So each connection's IO is wrapped ([`SendfileIo`]): when the service
//! answers with a body read from a local file, the body's memory range and the open file are
//! registered with the connection ([`Spans`]); a write whose buffer lies inside a registered
//! range is done as sendfile of the *same bytes* from the file. The cache only keeps a file
//! with an object when the open file is the one it read (same size and modification time;
//! stored objects are never rewritten in place), and a registered range holds a reference to
//! its memory, so an address can never be mistaken for another object's.
//!
//! Everything else (headers, gzip variants, objects from Redis or another store, a file that
//! came up short, a file system without sendfile) is written from memory as before: the bytes
//! on the wire are the same either way. With few connections open, copying from memory is
//! faster (the object stays in the CPU cache), so sendfile is only used from
//! `server.sendfile_from_connections` open connections on (measurements below).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper::rt::Write as _;
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Objects smaller than this are always written from memory (a syscall saved is worth more
/// than a copy avoided).
pub const SENDFILE_MIN_BYTES: usize = 128 * 1024;

// Why sendfile waits for many open connections (`server.sendfile_from_connections`, default
// 128, counted over all workers). Measured with `benches/origin.sh` on a 2.6 MB segment (two
// runs each, req/s as a share of nginx's): copying 1.48/1.39 at 50 connections, 0.79/0.92 at
// 200, 0.63/0.66 at 1000; sendfile 0.89/0.93, 0.78/0.81 and 1.01/0.89; switching at 128:
// 1.48/1.55, 0.80/0.73, 1.00/1.00. With few connections the object stays in the CPU cache and
// the copy is cheaper than sendfile's page-cache walk; with many, copying every socket's share
// is what saturates the CPU.

/// How many responses' ranges one connection remembers (HTTP/2 interleaves several).
const SPANS_PER_CONNECTION: usize = 8;

/// A body's bytes and the file region they were read from.
#[derive(Debug, Clone)]
pub struct FileSpan {
    /// The body (holding it keeps its memory, and so its addresses, alive).
    pub bytes: Bytes,
    /// The open file the bytes were read from.
    pub file: Arc<File>,
    /// Where `bytes[0]` is in the file.
    pub offset: u64,
}

/// The file-backed bodies a connection is sending.
#[derive(Debug, Clone, Default)]
pub struct Spans(Arc<Mutex<VecDeque<FileSpan>>>);

impl Spans {
    /// Remembers `span` for this connection's writes (forgetting the oldest beyond a few).
    pub fn register(&self, span: FileSpan) {
        if let Ok(mut spans) = self.0.lock() {
            if spans.len() == SPANS_PER_CONNECTION {
                spans.pop_front();
            }
            spans.push_back(span);
        }
    }

    /// The file and offset holding `buf`, if `buf` lies wholly inside a registered body.
    fn find(&self, buf: &[u8]) -> Option<(Arc<File>, u64)> {
        let start = buf.as_ptr() as usize;
        let end = start.checked_add(buf.len())?;
        let spans = self.0.lock().ok()?;
        spans.iter().rev().find_map(|span| {
            let from = span.bytes.as_ptr() as usize;
            let to = from + span.bytes.len();
            (from <= start && end <= to)
                .then(|| (span.file.clone(), span.offset + (start - from) as u64))
        })
    }
}

/// A connection's socket for hyper, sending registered file-backed bytes with sendfile.
#[derive(Debug)]
pub struct SendfileIo {
    io: TokioIo<TcpStream>,
    spans: Spans,
    sent: Counter,
}

impl SendfileIo {
    /// Wraps `stream`; `sent` counts the bytes sent with sendfile.
    pub fn new(stream: TcpStream, spans: Spans, sent: Counter) -> Self {
        Self {
            io: TokioIo::new(stream),
            spans,
            sent,
        }
    }

    /// Sends `buf` (which is `file` from `offset`) with sendfile, or from memory when the
    /// kernel cannot.
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: u64,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let stream = self.io.inner();
        loop {
            ready!(stream.poll_write_ready(cx))?;
            let mut at = offset;
            let sent = stream.try_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(stream, file, Some(&mut at), buf.len())
                    .map_err(io::Error::from)
            });
            match sent {
                Ok(n) if n > 0 => {
                    self.sent.inc_by(n as u64);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The file came up short, or sendfile is refused: the same bytes from memory.
                Ok(_) | Err(_) => break,
            }
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
}

impl hyper::rt::Read for SendfileIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SendfileIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        for (leading, buf) in bufs.iter().enumerate() {
            if buf.len() >= SENDFILE_MIN_BYTES / 4
                && let Some((file, offset)) = this.spans.find(buf)
            {
                if leading > 0 {
                    // What comes before (the response head) goes first, from memory.
                    return Pin::new(&mut this.io).poll_write_vectored(cx, &bufs[..leading]);
                }
                return this.poll_sendfile(cx, &file, offset, buf);
            }
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_buffers_inside_a_registered_body_are_found() {
        let file = Arc::new(tempfile_file());
        let bytes = Bytes::from(vec![7u8; 1000]);
        let spans = Spans::default();
        spans.register(FileSpan {
            bytes: bytes.clone(),
            file,
            offset: 100,
        });
        let (_, at) = spans.find(&bytes[10..500]).expect("inside");
        assert_eq!(at, 110);
        assert!(spans.find(&bytes[..]).is_some());
        let other = vec![7u8; 1000];
        assert!(
            spans.find(&other).is_none(),
            "equal bytes elsewhere are not the file"
        );
        let longer = Bytes::from(vec![7u8; 2000]);
        assert!(spans.find(&longer[..]).is_none());
    }

    fn tempfile_file() -> File {
        File::open("/dev/null").expect("/dev/null")
    }
}
