//! Responses of one connection leave in one write.
//!
//! hyper runs every HTTP/2 stream as its own task. A finished call wakes the connection task,
//! which tokio runs right after the call's task (its LIFO slot), so each response used to leave
//! in its own `writev`: one pass through the loopback TCP stack per call, the largest single
//! cost of a busy sidecar. [`Coalesced`] keeps what the connection writes in a buffer and, on a
//! flush, first lets the tasks that are already runnable run (one `yield_now`: the calls whose
//! requests arrived in the same read), then writes everything they produced at once.
//!
//! Nothing is held back for longer than that one turn of the scheduler: a flush on an idle
//! runtime goes out after the yield returns, and a buffer that fills up is written at once.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes held before a write goes out without waiting for a flush.
const CAPACITY: usize = 64 * 1024;

/// A TCP connection whose writes are gathered until a flush and sent after one yield.
pub struct Coalesced {
    inner: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` already handed to the socket.
    sent: usize,
    /// The yield a flush waits for before writing, once started.
    pause: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The current flush has had its yield; it only has to write.
    waited: bool,
}

impl std::fmt::Debug for Coalesced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalesced")
            .field("buffered", &(self.buf.len() - self.sent))
            .finish_non_exhaustive()
    }
}

impl Coalesced {
    /// Wraps an accepted connection.
    pub fn new(inner: TcpStream) -> Self {
        Coalesced {
            inner,
            buf: Vec::new(),
            sent: 0,
            pause: None,
            waited: false,
        }
    }

    /// Writes out the whole buffer.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(rest) = self.buf.get(self.sent..).filter(|r| !r.is_empty()) {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.buf.clear();
        self.sent = 0;
        if self.buf.capacity() > CAPACITY {
            self.buf.shrink_to(CAPACITY);
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `len` more bytes into the buffer, sending it first when they would not fit.
    /// `Ready(false)`: the bytes are too large to buffer; write them directly.
    fn poll_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<bool>> {
        if self.buf.len() + len > CAPACITY {
            ready!(self.poll_send(cx))?;
        }
        Poll::Ready(Ok(len <= CAPACITY))
    }
}

impl Connected for Coalesced {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for Coalesced {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Coalesced {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !ready!(this.poll_room(cx, data.len()))? {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let len = bufs.iter().map(|b| b.len()).sum();
        if !ready!(this.poll_room(cx, len))? {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        for b in bufs {
            this.buf.extend_from_slice(b);
        }
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buf.len() > this.sent {
            if !this.waited {
                // Let the calls that are already runnable finish first; their responses join
                // this write.
                let pause = this
                    .pause
                    .get_or_insert_with(|| Box::pin(tokio::task::yield_now()));
                ready!(pause.as_mut().poll(cx));
                this.pause = None;
                this.waited = true;
            }
            ready!(this.poll_send(cx))?;
        }
        this.waited = false;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        this.pause = None;
        this.waited = false;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn pair() -> (Coalesced, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (Coalesced::new(accepted.unwrap().0), client.unwrap())
    }

    #[tokio::test]
    async fn writes_arrive_after_a_flush_in_order() {
        let (mut server, mut client) = pair().await;
        server.write_all(b"one ").await.unwrap();
        let n = server
            .write_vectored(&[IoSlice::new(b"two "), IoSlice::new(b"three")])
            .await
            .unwrap();
        assert_eq!(n, 9, "both slices are taken whole");
        server.flush().await.unwrap();
        let mut got = vec![0u8; 13];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"one two three");
    }

    #[tokio::test]
    async fn large_writes_and_shutdown_lose_nothing() {
        let (mut server, mut client) = pair().await;
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.unwrap();
            all
        });
        server.write_all(b"head").await.unwrap();
        server.write_all(&big).await.unwrap();
        server.write_all(b"tail").await.unwrap();
        server.shutdown().await.unwrap();
        drop(server);
        let all = reader.await.unwrap();
        assert_eq!(all.len(), 4 + big.len() + 4);
        assert_eq!(&all[..4], b"head");
        assert_eq!(&all[4..4 + big.len()], &big[..]);
        assert_eq!(&all[all.len() - 4..], b"tail");
    }
}
