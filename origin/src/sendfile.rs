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
//! Everything else (gzip variants, objects from Redis or another store, a file that came up
//! short, a file system without sendfile) is written from memory as before: the bytes on the
//! wire are the same either way.
//!
//! Two socket settings go with it, as nginx's `tcp_nopush` and a modern server's
//! `TCP_NOTSENT_LOWAT` do:
//! - The response head that precedes a file body is sent with `MSG_MORE`, so it leaves in the
//!   same packets as the body's first bytes instead of as a small packet of its own.
//! - Every connection gets `TCP_NOTSENT_LOWAT` ([`NOTSENT_LOWAT`]): the socket only reports
//!   itself writable when fewer than that many bytes wait unsent, so a 2.6 MB segment is not
//!   queued whole in one call. It limits only what is queued and not yet sent, never what is
//!   in flight, so it costs no throughput on long, fast paths.
//!
//! Measured with `benches/origin.sh` on a 2.6 MB segment, alternating with nginx (sendfile
//! on, `tcp_nopush on`), req/s as a share of nginx's at 50 / 200 / 1000 connections: copying
//! from memory 1.45 / 0.86 / 0.79 (the previous design switched to sendfile at 128
//! connections); sendfile alone 0.9 / 0.8 / 0.9; sendfile with `MSG_MORE` 1.2–1.3 / 1.03–1.07
//! / 0.94; with both settings 1.7–1.8 / 1.8–1.95 / 2.4–2.8, p99 mostly within ±15 % of nginx's
//! (at 200 connections it swings between runs, once to 1.5×). Queuing
//! a whole segment made the rest of it go out clocked by the client's acknowledgements, in
//! small windows: the client's receive window stayed near 100 KB (nginx's grew to ~1 MB) and
//! the client spent 2–3× nginx's CPU per response on reads and ACKs.

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

/// `TCP_NOTSENT_LOWAT` of every connection: unsent bytes queued before the socket stops
/// taking more (16 KiB, the value Cloudflare and others run with; 8 and 32 KiB measured the
/// same here, 256 KiB lost a third of the gain).
pub const NOTSENT_LOWAT: u32 = 16 * 1024;

/// Sets up an accepted connection's socket: no Nagle delay (responses are whole when written)
/// and [`NOTSENT_LOWAT`]. Failures are ignored: the socket works without them.
pub fn tune_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(stream).set_tcp_notsent_lowat(NOTSENT_LOWAT);
}

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

    /// Sends `bufs` with `MSG_MORE`: the kernel holds a partial packet for what follows.
    fn poll_send_more(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        use rustix::net::{SendAncillaryBuffer, SendFlags, sendmsg};
        let stream = self.io.inner();
        loop {
            ready!(stream.poll_write_ready(cx))?;
            let sent = stream.try_io(Interest::WRITABLE, || {
                sendmsg(
                    stream,
                    bufs,
                    &mut SendAncillaryBuffer::default(),
                    SendFlags::MORE | SendFlags::NOSIGNAL,
                )
                .map_err(io::Error::from)
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
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
                    // What comes before (the response head) goes first, marked as having
                    // more to follow so it shares the body's first packets.
                    return this.poll_send_more(cx, &bufs[..leading]);
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
