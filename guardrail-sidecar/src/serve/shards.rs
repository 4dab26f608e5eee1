//! Event-loop threads: every accepted connection is served, for its whole life, by one thread
//! that runs a single-threaded runtime.
//!
//! hyper runs each HTTP/2 stream of a connection as its own task. On a work-stealing runtime
//! those tasks and their connection task land on different threads: every call then takes the
//! connection's stream lock from another core and wakes a parked thread, and the connection
//! task, which a finished call puts first in line, writes each response on its own. On a
//! single-threaded runtime the calls that arrived in one read all finish before the connection
//! task runs again, so their responses leave together in one write, and nothing crosses
//! threads. Under load on a 2-core machine (h2load, 2 connections × 8 streams) this took the
//! socket writes per `ScreenAction` from 0.49 to 0.12 and the server's CPU time per call from
//! 34–37 µs to 25–27 µs.
//!
//! A new connection goes to the thread that serves the fewest connections. Work that can take
//! long (input screening with the classifier, scans and model outputs over 64 KiB, compiling a
//! policy for a new set of host grants) runs on the blocking pool of the thread's runtime, not
//! on the event loop.

use std::io::{self, IoSlice};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::server::{Connected, Router, TcpConnectInfo};

/// Connections currently served by one thread; a connection holds one count until it is
/// dropped.
#[derive(Debug, Clone, Default)]
pub struct Load(Arc<AtomicUsize>);

impl Load {
    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one connection until the returned ticket is dropped.
    fn enter(&self) -> LoadTicket {
        self.0.fetch_add(1, Ordering::Relaxed);
        LoadTicket(self.0.clone())
    }
}

/// One connection's share of a [`Load`].
#[derive(Debug)]
pub struct LoadTicket(Arc<AtomicUsize>);

impl Drop for LoadTicket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An accepted connection, counted on its event-loop thread while it is open.
#[derive(Debug)]
pub struct Conn {
    inner: TcpStream,
    _ticket: LoadTicket,
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The number of event-loop threads for `requested` (0: one per CPU).
pub fn thread_count(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Serves `router` on `threads` event-loop threads over the connections `incoming` yields.
///
/// When `incoming` ends, every thread stops taking connections and waits for the calls on its
/// connections to finish (the routers' graceful shutdown, triggered by `closed`). Resolves
/// when all threads are done. When `abandon` turns true first, the threads drop their
/// connections and calls still in flight, and this resolves at once.
pub async fn serve(
    threads: usize,
    router: Router,
    incoming: impl tokio_stream::Stream<Item = io::Result<TcpStream>>,
    closed: watch::Receiver<bool>,
    mut abandon: watch::Receiver<bool>,
) -> Result<()> {
    let threads = threads.max(1);
    let mut senders = Vec::with_capacity(threads);
    let mut loads = Vec::with_capacity(threads);
    let mut done = Vec::with_capacity(threads);
    for i in 0..threads {
        let (tx, rx) = mpsc::unbounded_channel::<Conn>();
        let (done_tx, done_rx) = oneshot::channel::<Result<()>>();
        let router = router.clone();
        let closed = closed.clone();
        let abandon = abandon.clone();
        std::thread::Builder::new()
            .name(format!("guardrail-io-{i}"))
            .spawn(move || {
                let _ = done_tx.send(run_thread(router, rx, closed, abandon));
            })
            .with_context(|| format!("cannot start event-loop thread {i}"))?;
        senders.push(tx);
        loads.push(Load::default());
        done.push(done_rx);
    }

    let mut incoming = pin!(incoming);
    loop {
        let next = tokio::select! {
            next = incoming.next() => next,
            _ = abandon.wait_for(|a| *a) => None,
        };
        let Some(next) = next else { break };
        match next {
            Ok(conn) => {
                let Some(i) = least_loaded(&loads) else { break };
                let (Some(tx), Some(load)) = (senders.get(i), loads.get(i)) else {
                    break;
                };
                let conn = Conn {
                    inner: conn,
                    _ticket: load.enter(),
                };
                if tx.send(conn).is_err() {
                    // Its runtime failed to start or it panicked: stop serving rather than
                    // drop every connection it would be given. Its error is returned below.
                    tracing::error!(thread = i, "event-loop thread is gone; stopping");
                    break;
                }
            }
            Err(e) => {
                // Running out of descriptors fails every accept until one closes: pause
                // instead of spinning.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(senders);

    let mut result = Ok(());
    for (i, rx) in done.into_iter().enumerate() {
        let r = match rx.await {
            Ok(r) => r,
            Err(_) => Err(anyhow!("event-loop thread {i} panicked")),
        };
        if result.is_ok() {
            result = r;
        }
    }
    result
}

/// The index of the thread with the fewest connections (the first of equals).
fn least_loaded(loads: &[Load]) -> Option<usize> {
    loads
        .iter()
        .enumerate()
        .min_by_key(|(_, l)| l.get())
        .map(|(i, _)| i)
}

/// One event-loop thread: a single-threaded runtime serving the connections sent to it.
fn run_thread(
    router: Router,
    rx: mpsc::UnboundedReceiver<Conn>,
    closed: watch::Receiver<bool>,
    mut abandon: watch::Receiver<bool>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start an event-loop runtime")?;
    let result = runtime.block_on(async move {
        let incoming = UnboundedReceiverStream::new(rx).map(Ok::<_, io::Error>);
        let server = router.serve_with_incoming_shutdown(incoming, super::incoming::closed(closed));
        tokio::select! {
            r = server => r.context("grpc server failed"),
            _ = abandon.wait_for(|a| *a) => Ok(()),
        }
    });
    // Calls abandoned at the end of the grace period may still run on the blocking pool; they
    // are not waited for.
    runtime.shutdown_background();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_connections_go_to_the_least_loaded_thread() {
        let loads = vec![Load::default(), Load::default(), Load::default()];
        assert_eq!(least_loaded(&loads), Some(0));
        let a = loads[0].enter();
        assert_eq!(least_loaded(&loads), Some(1));
        let b = loads[1].enter();
        let c = loads[1].enter();
        assert_eq!(least_loaded(&loads), Some(2));
        let d = loads[2].enter();
        assert_eq!(
            least_loaded(&loads),
            Some(0),
            "0 and 2 hold one each; 1 holds two"
        );
        drop((b, c));
        assert_eq!(
            least_loaded(&loads),
            Some(1),
            "a closed connection frees its thread"
        );
        drop((a, d));
        assert_eq!(loads.iter().map(Load::get).sum::<usize>(), 0);
        assert_eq!(least_loaded(&[]), None);
    }

    #[test]
    fn thread_count_defaults_to_the_cpus() {
        assert_eq!(thread_count(3), 3);
        assert!(thread_count(0) >= 1);
    }
}
