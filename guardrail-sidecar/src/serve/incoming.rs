//! The listening socket, closed the moment shutdown begins.
//!
//! The server stops accepting when its incoming stream ends. This stream ends as soon as the
//! shutdown future resolves, and drops the listener first: by the time anything says
//! "draining", the port refuses new connections (the kernel no longer completes handshakes for
//! a socket nobody will accept from).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::transport::server::TcpIncoming;

/// Accepted connections until `shutdown` resolves; then the listener is closed, `closed` turns
/// true and the stream ends.
pub struct StopAccepting {
    listener: Option<TcpIncoming>,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    closed: watch::Sender<bool>,
}

impl std::fmt::Debug for StopAccepting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopAccepting")
            .field("accepting", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl StopAccepting {
    pub fn new(
        listener: TcpIncoming,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> (Self, watch::Receiver<bool>) {
        let (closed, rx) = watch::channel(false);
        let stream = Self {
            listener: Some(listener),
            shutdown: Box::pin(shutdown),
            closed,
        };
        (stream, rx)
    }
}

impl Stream for StopAccepting {
    type Item = std::io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(listener) = this.listener.as_mut() else {
            return Poll::Ready(None);
        };
        if this.shutdown.as_mut().poll(cx).is_ready() {
            this.listener = None;
            this.closed.send_replace(true);
            return Poll::Ready(None);
        }
        Pin::new(listener).poll_next(cx)
    }
}

/// Resolves once the listener of a [`StopAccepting`] is closed (or the stream is gone).
pub async fn closed(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|c| *c).await;
}
