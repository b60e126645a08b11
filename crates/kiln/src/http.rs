//! Serving HTTP/1.1: one acceptor hands connections round-robin to one single-threaded runtime
//! per core, where each connection stays. Badge traffic is many small keep-alive requests; a
//! connection that never leaves its thread costs no cross-thread wake-ups, which is what a
//! shared work-stealing runtime spends most of its time on under that load (`bench/README.md`).

use std::future::Future;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use anyhow::Context;
use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tower::Layer;

mod long_badge_uri;

use long_badge_uri::LongBadgeUri;

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long open connections get to finish their requests once Kiln stops (a console page
/// following a live log would otherwise hold the exit).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and waits (up to
/// [`DRAIN_TIMEOUT`]) for the open connections' requests to end.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let workers = thread::available_parallelism().map_or(1, |n| n.get());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut queues = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers);
    for index in 0..workers {
        let (tx, rx) = mpsc::unbounded_channel();
        let app = app.clone();
        let stop = stop_rx.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting an HTTP runtime")?;
        threads.push(
            thread::Builder::new()
                .name(format!("kiln-http-{index}"))
                .spawn(move || runtime.block_on(serve_connections(rx, app, stop)))
                .context("starting an HTTP thread")?,
        );
        queues.push(tx);
    }

    tokio::pin!(shutdown);
    let mut next = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                // Handed over as a plain socket, to be registered with its thread's own reactor.
                Ok((stream, peer)) => match stream.into_std() {
                    Ok(stream) => {
                        // A queue only closes when its thread has died, which a panic would
                        // cause: the connection is dropped and the next thread gets the next.
                        let _ = queues[next % workers].send((stream, peer));
                        next = next.wrapping_add(1);
                    }
                    Err(e) => tracing::warn!(error = %e, "handing over a connection failed"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(queues);
    tokio::task::spawn_blocking(move || {
        for handle in threads {
            let _ = handle.join();
        }
    })
    .await
    .context("waiting for the HTTP threads")?;
    Ok(())
}

/// One thread's share: serves each connection it is handed until told to stop.
async fn serve_connections(
    mut incoming: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            stream = incoming.recv() => {
                let Some((stream, peer)) = stream else { break };
                let stream = match tokio::net::TcpStream::from_std(stream) {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "registering a connection failed");
                        continue;
                    }
                };
                // Responses are written whole; waiting to coalesce them only adds latency.
                let _ = stream.set_nodelay(true);
                // Handlers that limit or log per client read the peer as `ConnectInfo`.
                let service =
                    TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(app.clone()));
                // A badge URL too long for hyper still gets an image.
                let io = TokioIo::new(LongBadgeUri::new(stream));
                let connection = graceful.watch(http.serve_connection(io, service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = stop.changed() => break,
        }
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout were closed");
    }
}
