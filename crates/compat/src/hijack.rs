//! The connection a handler gets from [`ResponseWriter::hijack`](crate::ResponseWriter::hijack).
//!
//! On HTTP/1.1 under `axum::serve` the hijacked connection is the raw [`TcpStream`] recovered
//! from hyper's upgraded IO, so reads and writes skip hyper's boxed-IO indirection; anything
//! else (HTTP/2 streams, other listeners, in-memory test pipes) is boxed. Either way, bytes
//! hyper had already read past the request head are replayed first, so nothing the client sent
//! right behind its handshake is lost.

use std::{
    fmt, io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Buf, Bytes};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};
use tokio_util::either::Either;

/// Any IO a [`Hijacked`] connection can wrap.
pub trait HijackedIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> HijackedIo for T {}

type Boxed = Box<dyn HijackedIo>;

/// A hijacked connection: Go's `net.Conn` plus the bytes its `bufio.Reader` had buffered.
///
/// It is `AsyncRead + AsyncWrite`; [`into_split`](Self::into_split) gives independent read and
/// write halves (lock-free for TCP) for one reader task and one writer task.
pub struct Hijacked {
    io: Either<TcpStream, Boxed>,
    read_buf: Bytes,
    local_addr: Option<SocketAddr>,
    remote_addr: Option<SocketAddr>,
}

impl Hijacked {
    /// Wraps a TCP connection, with `read_buf` holding bytes already read from it that the new
    /// protocol must see first.
    pub fn from_tcp(stream: TcpStream, read_buf: Bytes) -> Self {
        Hijacked {
            local_addr: stream.local_addr().ok(),
            remote_addr: stream.peer_addr().ok(),
            io: Either::Left(stream),
            read_buf,
        }
    }

    /// Wraps any other IO (an HTTP/2 stream, a TLS stream, an in-memory pipe in a test).
    pub fn new<T: HijackedIo>(io: T) -> Self {
        Hijacked {
            io: Either::Right(Box::new(io)),
            read_buf: Bytes::new(),
            local_addr: None,
            remote_addr: None,
        }
    }

    /// Sets the bytes to replay before reading from the IO.
    pub fn with_read_buf(mut self, read_buf: Bytes) -> Self {
        self.read_buf = read_buf;
        self
    }

    /// Sets the addresses reported by [`local_addr`](Self::local_addr) and
    /// [`remote_addr`](Self::remote_addr) where the IO itself cannot tell them.
    pub fn with_addrs(mut self, local: Option<SocketAddr>, remote: Option<SocketAddr>) -> Self {
        self.local_addr = self.local_addr.or(local);
        self.remote_addr = self.remote_addr.or(remote);
        self
    }

    /// Bytes already read from the connection that have not been returned by a read yet.
    pub fn read_buf(&self) -> &Bytes {
        &self.read_buf
    }

    /// The underlying TCP stream, when the connection is a plain TCP connection.
    pub fn tcp_stream(&self) -> Option<&TcpStream> {
        match &self.io {
            Either::Left(s) => Some(s),
            Either::Right(_) => None,
        }
    }

    /// The local address of the connection, when known.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The peer's address, when known.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// Splits the connection into a read half (which replays the buffered bytes first) and a
    /// write half that can be used from different tasks.
    pub fn into_split(self) -> (HijackedReadHalf, HijackedWriteHalf) {
        let (read, write) = match self.io {
            Either::Left(s) => {
                let (r, w) = s.into_split();
                (Either::Left(r), Either::Left(w))
            }
            Either::Right(b) => {
                let (r, w) = tokio::io::split(b);
                (Either::Right(r), Either::Right(w))
            }
        };
        (
            HijackedReadHalf {
                io: read,
                read_buf: self.read_buf,
            },
            HijackedWriteHalf { io: write },
        )
    }
}

impl fmt::Debug for Hijacked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hijacked")
            .field("tcp", &self.tcp_stream().is_some())
            .field("read_buf", &self.read_buf.len())
            .field("local_addr", &self.local_addr)
            .field("remote_addr", &self.remote_addr)
            .finish()
    }
}

/// Reads from the replay buffer first, then from the IO.
fn poll_replay_then_read<R: AsyncRead + Unpin>(
    read_buf: &mut Bytes,
    io: &mut R,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    if read_buf.is_empty() {
        return Pin::new(io).poll_read(cx, buf);
    }
    let n = read_buf.len().min(buf.remaining());
    buf.put_slice(&read_buf[..n]);
    read_buf.advance(n);
    Poll::Ready(Ok(()))
}

impl AsyncRead for Hijacked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        poll_replay_then_read(&mut this.read_buf, &mut this.io, cx, buf)
    }
}

/// Forwards `AsyncWrite` to the `io` field.
macro_rules! forward_async_write {
    ($ty:ty) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.io.is_write_vectored()
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().io).poll_flush(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
            }
        }
    };
}

forward_async_write!(Hijacked);
forward_async_write!(HijackedWriteHalf);

/// The read half of a [`Hijacked`] connection.
pub struct HijackedReadHalf {
    io: Either<OwnedReadHalf, tokio::io::ReadHalf<Boxed>>,
    read_buf: Bytes,
}

impl HijackedReadHalf {
    /// Takes the bytes that were buffered before the hijack, so a protocol reader can adopt
    /// them into its own buffer instead of reading them through this half.
    pub fn take_read_buf(&mut self) -> Bytes {
        std::mem::take(&mut self.read_buf)
    }

    /// The underlying TCP stream, when the connection is a plain TCP connection.
    pub fn tcp_stream(&self) -> Option<&TcpStream> {
        match &self.io {
            Either::Left(r) => Some(r.as_ref()),
            Either::Right(_) => None,
        }
    }
}

impl fmt::Debug for HijackedReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HijackedReadHalf")
            .field("tcp", &self.tcp_stream().is_some())
            .field("read_buf", &self.read_buf.len())
            .finish()
    }
}

impl AsyncRead for HijackedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        poll_replay_then_read(&mut this.read_buf, &mut this.io, cx, buf)
    }
}

/// The write half of a [`Hijacked`] connection.
pub struct HijackedWriteHalf {
    io: Either<OwnedWriteHalf, tokio::io::WriteHalf<Boxed>>,
}

impl fmt::Debug for HijackedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HijackedWriteHalf")
            .field("tcp", &matches!(self.io, Either::Left(_)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn replays_buffered_bytes_before_the_io() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut conn = Hijacked::new(a).with_read_buf(Bytes::from_static(b"early "));
        b.write_all(b"late").await.unwrap();
        drop(b);
        let mut got = String::new();
        conn.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "early late");
    }

    #[tokio::test]
    async fn split_halves_replay_and_write() {
        let (a, mut b) = tokio::io::duplex(64);
        let conn = Hijacked::new(a).with_read_buf(Bytes::from_static(b"x"));
        let (mut r, mut w) = conn.into_split();
        w.write_all(b"ping").await.unwrap();
        let mut four = [0; 4];
        b.read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"ping");
        let mut one = [0; 1];
        r.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"x");
    }
}
