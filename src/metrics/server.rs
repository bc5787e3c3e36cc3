//! The `GET /metrics` endpoint, with `GET /healthz` (200 while the process serves) and
//! `GET /ready` (200 when the pipeline runs and every agency interface is connected, else
//! 503 saying why): plain HTTP (hyper on a current-thread tokio runtime) on a thread of its
//! own. No TLS and no authentication: bind it to loopback or a management network.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::oneshot;

use super::prometheus::CONTENT_TYPE;
use super::{render_prometheus, Metrics, Readiness};

/// A client has this long to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics endpoint: listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("metrics endpoint: cannot start its runtime: {0}")]
    Runtime(std::io::Error),
    #[error("metrics endpoint: cannot start its thread: {0}")]
    Thread(std::io::Error),
}

/// The running endpoint. Dropping it (or [`MetricsServer::shutdown`]) stops the server, joins
/// its thread and frees the port.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The address bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving and waits for the server thread to end.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(()); // Err: the thread has already ended.
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("metrics endpoint thread panicked");
            }
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Binds `addr` (port 0 picks a free port) and serves `GET /metrics` in the Prometheus text
/// format from a thread of its own until the returned server is dropped or shut down.
/// Plain HTTP without authentication: give it a loopback or management-network address.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<MetricsServer, MetricsError> {
    let listen_error = |source| MetricsError::Listen { addr, source };
    let std_listener = std::net::TcpListener::bind(addr).map_err(listen_error)?;
    let local_addr = std_listener.local_addr().map_err(listen_error)?;
    std_listener.set_nonblocking(true).map_err(listen_error)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(MetricsError::Runtime)?;
    let listener = {
        let _context = runtime.enter();
        tokio::net::TcpListener::from_std(std_listener).map_err(listen_error)?
    };
    let (stop, mut stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => match accepted {
                            Ok((tcp, _peer)) => {
                                tokio::spawn(connection(tcp, metrics.clone()));
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        },
                    }
                }
            });
            // Dropping the runtime ends open connections; the listener is already closed.
        })
        .map_err(MetricsError::Thread)?;
    tracing::info!(addr = %local_addr, "metrics endpoint listening (plain HTTP)");
    Ok(MetricsServer { local_addr, stop: Some(stop), thread: Some(thread) })
}

async fn connection(tcp: tokio::net::TcpStream, metrics: Arc<Metrics>) {
    let service = service_fn(move |req| {
        let metrics = metrics.clone();
        async move { Ok::<_, Infallible>(respond(&req, &metrics)) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tcp), service)
        .await;
}

fn respond(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => text(StatusCode::OK, CONTENT_TYPE, render_prometheus(metrics)),
        (&Method::GET, "/healthz") => text(StatusCode::OK, PLAIN, "ok\n".into()),
        (&Method::GET, "/ready") => match metrics.readiness() {
            Readiness::Ready => text(StatusCode::OK, PLAIN, "ready\n".into()),
            Readiness::NotRunning => text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, "not ready: pipeline not running\n".into()),
            Readiness::NotConnected(down) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                PLAIN,
                format!("not ready: not connected to {}\n", down.join(", ")),
            ),
        },
        (_, "/metrics" | "/healthz" | "/ready") => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "method not allowed\n".into());
            r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET"));
            r
        }
        _ => text(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found; try /metrics, /healthz or /ready\n".into()),
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    r
}
