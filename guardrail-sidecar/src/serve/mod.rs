//! `guardrail serve`: the guard as a gRPC sidecar (`guardrail.v1`).
//!
//! - [`server`]: the service; [`convert`]: proto ⇄ core; reviews are held in the core's
//!   [`ApprovalStore`] (in memory: a restart forgets open reviews, which then stay unapproved);
//! - [`limits`]: the concurrency cap that sheds load with `RESOURCE_EXHAUSTED`;
//! - [`metrics`]: Prometheus text format on a separate port; [`audit`]: one JSON line per
//!   decision;
//! - [`engine`] and [`reload`]: the compiled policy in force (action guard, input screener,
//!   secret scanner), swapped atomically on SIGHUP or when the file changes, kept when the new
//!   one is invalid; an unchanged `[input]` keeps its loaded model;
//! - [`tls`]: optional TLS and mutual TLS;
//! - [`shards`]: the event-loop threads; each accepted connection is served by one of them
//!   (`--worker-threads`, one per CPU by default).
//!
//! Alongside `guardrail.v1.Guardrail` the server runs `grpc.health.v1.Health` and server
//! reflection (v1 and v1alpha), so `grpcurl` works without the proto file. On SIGTERM (or
//! Ctrl-C) the listener closes first ([`incoming`]), then health turns `NOT_SERVING` on the
//! connections still open and in-flight calls finish (for at most `--shutdown-grace-ms`).
//!
//! # Untrusted input
//! Every request is limited: the decoded message (`--max-message-bytes`, 4 MiB; larger is
//! `OUT_OF_RANGE` before anything is parsed), a scan stream in total (`--max-stream-bytes`,
//! 64 MiB), context fields (256 bytes each), host grants (32 entries), and then the policy's
//! own limits apply to the model output. Requests over `--max-concurrent` in flight are refused
//! with `RESOURCE_EXHAUSTED`; a request runs for at most `--request-timeout-ms` or the caller's
//! deadline, whichever is sooner.

pub mod audit;
pub mod convert;
pub mod engine;
pub mod identity;
pub mod incoming;
pub mod limits;
pub mod metrics;
pub mod reload;
pub mod server;
pub mod shards;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use arc_swap::ArcSwap;
use guardrail_core::approval::ApprovalStore;
use guardrail_core::scan::RedactionKey;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::proto;
use audit::{AuditDest, AuditSink};
use engine::Engine;
use incoming::StopAccepting;
use limits::Limiter;
use metrics::Metrics;
use server::GuardrailService;
use tls::TlsPaths;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `guardrail serve` options; each can also be set from the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address for gRPC.
    #[arg(long, env = "GUARDRAIL_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Address for Prometheus metrics (`GET /metrics`); none when absent.
    #[arg(long, env = "GUARDRAIL_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Policy file (TOML), reloaded on SIGHUP and when it changes; the embedded default
    /// policy when absent.
    #[arg(long, env = "GUARDRAIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format (logs go to stderr).
    #[arg(long, env = "GUARDRAIL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Audit log: `-` for stdout, `off`, or a file to append to.
    #[arg(long, env = "GUARDRAIL_AUDIT", default_value = "-")]
    pub audit: AuditDest,
    /// Requests screened at once; more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, env = "GUARDRAIL_MAX_CONCURRENT", default_value_t = 256)]
    pub max_concurrent: usize,
    /// Largest request message, in bytes.
    #[arg(long, env = "GUARDRAIL_MAX_MESSAGE_BYTES", default_value_t = 4 << 20)]
    pub max_message_bytes: usize,
    /// Largest ScanOutputStream in total, in bytes.
    #[arg(long, env = "GUARDRAIL_MAX_STREAM_BYTES", default_value_t = 64 << 20)]
    pub max_stream_bytes: usize,
    /// Longest a request may run, in milliseconds (a shorter client deadline wins).
    #[arg(long, env = "GUARDRAIL_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// `http.allow` entries a request may be granted through `allow_hosts` (comma-separated),
    /// besides the policy's `http.grantable`.
    #[arg(long, env = "GUARDRAIL_GRANTABLE_HOSTS", value_delimiter = ',')]
    pub grantable_hosts: Vec<String>,
    /// How often the policy file is checked for changes, in milliseconds; 0 turns polling off
    /// (SIGHUP still reloads).
    #[arg(long, env = "GUARDRAIL_RELOAD_INTERVAL_MS", default_value_t = 2_000)]
    pub reload_interval_ms: u64,
    /// Longest wait for in-flight calls on shutdown, in milliseconds.
    #[arg(long, env = "GUARDRAIL_SHUTDOWN_GRACE_MS", default_value_t = 30_000)]
    pub shutdown_grace_ms: u64,
    /// Server certificate chain (PEM); enables TLS with --tls-key.
    #[arg(long, env = "GUARDRAIL_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "GUARDRAIL_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) for client certificates; requires them (mutual TLS).
    #[arg(long, env = "GUARDRAIL_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Caller identities allowed to call Approve and Deny, comma-separated: the client
    /// certificate's URI SAN, DNS name or common name (with --tls-client-ca), or the
    /// `x-agent-identity` header (with --trust-identity-header). Set, any other caller is
    /// refused (`PERMISSION_DENIED`), so an agent cannot approve its own calls; unset, every
    /// caller may (the server warns at start).
    #[arg(long, env = "GUARDRAIL_APPROVER_IDENTITIES", value_delimiter = ',')]
    pub approver_identities: Vec<String>,
    /// Take the `x-agent-identity` header as the caller's verified identity. Only behind a
    /// gateway that sets the header itself and is the only way to the port: any client can
    /// send the header.
    #[arg(long, env = "GUARDRAIL_TRUST_IDENTITY_HEADER")]
    pub trust_identity_header: bool,
    /// How long a review stays open for Approve / Deny / Redeem, in seconds (at most a week).
    #[arg(long, env = "GUARDRAIL_REVIEW_TTL_SECS", default_value_t = 900)]
    pub review_ttl_secs: u64,
    /// Most reviews held at once; when full, new reviews are not opened (the calls stay
    /// unapproved).
    #[arg(long, env = "GUARDRAIL_MAX_PENDING_REVIEWS", default_value_t = 10_000)]
    pub max_pending_reviews: usize,
    /// Event-loop threads serving gRPC connections (each connection stays on one); the number
    /// of CPUs when absent or 0. Long work (the classifier, large scans and model outputs,
    /// new host grants) runs on a blocking pool beside them.
    #[arg(long, env = "GUARDRAIL_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
}

/// What the server needs besides its listeners.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Policy file; the embedded default when `None`.
    pub config: Option<PathBuf>,
    /// Hosts a request may be granted.
    pub grantable_hosts: Vec<String>,
    /// Identities allowed to Approve and Deny; empty: any caller.
    pub approver_identities: Vec<String>,
    /// The `x-agent-identity` header is set by a gateway and verified.
    pub trust_identity_header: bool,
    /// Concurrency cap.
    pub max_concurrent: usize,
    /// Largest request message.
    pub max_message_bytes: usize,
    /// Largest scan stream.
    pub max_stream_bytes: usize,
    /// Server-side request timeout.
    pub request_timeout: Duration,
    /// Policy file polling interval (zero: off).
    pub reload_interval: Duration,
    /// Reload on SIGHUP.
    pub sighup: bool,
    /// Audit destination.
    pub audit: AuditDest,
    /// TLS files.
    pub tls: TlsPaths,
    /// Longest drain on shutdown.
    pub shutdown_grace: Duration,
    /// How long a review stays open.
    pub review_ttl: Duration,
    /// Most reviews held at once.
    pub max_pending_reviews: usize,
    /// Event-loop threads serving connections (0: one per CPU).
    pub threads: usize,
}

impl Default for ServerConfig {
    /// The embedded policy, no grants, 256 concurrent requests, 4 MiB messages, 64 MiB streams,
    /// 10 s timeout, polling every 2 s, no SIGHUP handler, audit to stdout, plaintext, 30 s
    /// drain, reviews open for 15 minutes, at most 10000 of them, one event-loop thread per CPU.
    fn default() -> Self {
        ServerConfig {
            config: None,
            grantable_hosts: Vec::new(),
            approver_identities: Vec::new(),
            trust_identity_header: false,
            max_concurrent: 256,
            max_message_bytes: 4 << 20,
            max_stream_bytes: 64 << 20,
            request_timeout: Duration::from_secs(10),
            reload_interval: Duration::from_secs(2),
            sighup: false,
            audit: AuditDest::Stdout,
            tls: TlsPaths::default(),
            shutdown_grace: Duration::from_secs(30),
            review_ttl: Duration::from_secs(900),
            max_pending_reviews: ApprovalStore::DEFAULT_MAX_ENTRIES,
            threads: 0,
        }
    }
}

impl From<&ServeArgs> for ServerConfig {
    fn from(a: &ServeArgs) -> Self {
        ServerConfig {
            config: a.config.clone(),
            grantable_hosts: a
                .grantable_hosts
                .iter()
                .filter(|h| !h.trim().is_empty())
                .cloned()
                .collect(),
            approver_identities: a
                .approver_identities
                .iter()
                .map(|i| i.trim())
                .filter(|i| !i.is_empty())
                .map(str::to_owned)
                .collect(),
            trust_identity_header: a.trust_identity_header,
            max_concurrent: a.max_concurrent,
            max_message_bytes: a.max_message_bytes,
            max_stream_bytes: a.max_stream_bytes,
            request_timeout: Duration::from_millis(a.request_timeout_ms),
            reload_interval: Duration::from_millis(a.reload_interval_ms),
            sighup: true,
            audit: a.audit.clone(),
            tls: TlsPaths {
                cert: a.tls_cert.clone(),
                key: a.tls_key.clone(),
                client_ca: a.tls_client_ca.clone(),
            },
            shutdown_grace: Duration::from_millis(a.shutdown_grace_ms),
            review_ttl: Duration::from_secs(a.review_ttl_secs),
            max_pending_reviews: a.max_pending_reviews,
            threads: a.worker_threads.unwrap_or(0),
        }
    }
}

/// Per-request limits the service enforces itself.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest scan stream.
    pub max_stream_bytes: usize,
}

/// State shared by every request.
#[derive(Debug)]
pub struct Shared {
    /// The compiled policy in force.
    pub engine: ArcSwap<Engine>,
    /// Hosts a request may be granted.
    pub grantable: Vec<String>,
    /// Calls in review, waiting for Approve / Deny and Redeem.
    pub approvals: ApprovalStore,
    /// Identities allowed to Approve and Deny; empty: any caller.
    pub approvers: Vec<String>,
    /// The `x-agent-identity` header is verified (set by a gateway).
    pub trust_identity_header: bool,
    /// How long a review stays open.
    pub review_ttl: Duration,
    /// Key of keyed placeholders, fresh per process.
    pub redaction_key: RedactionKey,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Audit log.
    pub audit: AuditSink,
    /// Concurrency cap.
    pub limiter: Limiter,
    /// Request limits.
    pub limits: RequestLimits,
}

/// Serves until `shutdown` resolves, then drains. `metrics_listener` serves `/metrics` when
/// given. Returns once in-flight calls have finished (or the grace period ran out) and the
/// audit log is flushed.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if !config.approver_identities.is_empty()
        && config.tls.client_ca.is_none()
        && !config.trust_identity_header
    {
        bail!(
            "--approver-identities needs a verified caller identity: --tls-client-ca (the client \
             certificate names the caller) or --trust-identity-header (a gateway sets \
             x-agent-identity); any client can send that header itself"
        );
    }
    let metrics = Arc::new(Metrics::new());
    let load_config = config.config.clone();
    let grantable = config.grantable_hosts.clone();
    let engine =
        tokio::task::spawn_blocking(move || Engine::load(load_config.as_deref(), &grantable))
            .await
            .context("policy loading task failed")??;
    metrics.set_policy_hash(engine.guard().policy_hash());
    let (audit, audit_writer) = AuditSink::start(&config.audit, metrics.clone())
        .with_context(|| format!("cannot open the audit log {:?}", config.audit))?;
    let tls = config.tls.server_config()?;
    if config.approver_identities.is_empty() {
        tracing::warn!(
            "no --approver-identities: any caller may approve a review, the agent that made the call included"
        );
    }
    let shared = Arc::new(Shared {
        engine: ArcSwap::from_pointee(engine),
        grantable: config.grantable_hosts.clone(),
        approvals: ApprovalStore::new(config.max_pending_reviews),
        approvers: config.approver_identities.clone(),
        trust_identity_header: config.trust_identity_header,
        review_ttl: config.review_ttl,
        redaction_key: RedactionKey::random(),
        metrics: metrics.clone(),
        audit,
        limiter: Limiter::new(config.max_concurrent, metrics.clone()),
        limits: RequestLimits {
            max_stream_bytes: config.max_stream_bytes,
        },
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let reloader = config.config.clone().map(|path| {
        tokio::spawn(reload::watch(
            shared.clone(),
            path,
            config.reload_interval,
            config.sighup,
            stop_rx.clone(),
        ))
    });
    let metrics_task = metrics_listener.map(|l| {
        let mut stop = stop_rx.clone();
        let m = metrics.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = metrics::serve(l, m, stopped).await {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        })
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<proto::guardrail_server::GuardrailServer<GuardrailService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the reflection service")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("cannot build the reflection service")?;
    let guardrail =
        proto::guardrail_server::GuardrailServer::new(GuardrailService::new(shared.clone()))
            .max_decoding_message_size(config.max_message_bytes);

    let mut builder = Server::builder()
        .timeout(config.request_timeout)
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .context("invalid TLS configuration")?;
    }
    let addr = listener.local_addr()?;
    let threads = shards::thread_count(config.threads);
    let (incoming, closed) = StopAccepting::new(
        TcpIncoming::from(listener).with_nodelay(Some(true)),
        shutdown,
    );

    // Once the listener is closed: health turns NOT_SERVING for the connections still open,
    // and the grace period for in-flight calls starts.
    let (drain_tx, drain_rx) = oneshot::channel::<()>();
    let draining_health = health.clone();
    let drained_closed = closed.clone();
    tokio::spawn(async move {
        incoming::closed(drained_closed).await;
        tracing::info!("shutting down: listener closed, draining in-flight calls");
        draining_health
            .set_not_serving::<proto::guardrail_server::GuardrailServer<GuardrailService>>()
            .await;
        draining_health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        let _ = drain_tx.send(());
    });
    tracing::info!(
        grpc_addr = %addr,
        policy_hash = %shared.engine.load().guard().policy_hash(),
        policy = %config.config.as_ref().map_or_else(|| "builtin".to_owned(), |p| p.display().to_string()),
        max_concurrent = config.max_concurrent,
        threads,
        "serving"
    );
    let router = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(guardrail);
    let (abandon_tx, abandon_rx) = watch::channel(false);
    let server = shards::serve(threads, router, incoming, closed, abandon_rx);
    let grace = config.shutdown_grace;
    let deadline = async move {
        if drain_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let mut server = std::pin::pin!(server);
    let result = tokio::select! {
        r = &mut server => r,
        () = deadline => {
            tracing::warn!(grace_ms = grace.as_millis(), "shutdown grace period over; abandoning calls still in flight");
            let _ = abandon_tx.send(true);
            server.await
        }
    };

    let _ = stop_tx.send(true);
    if let Some(t) = reloader {
        let _ = t.await;
    }
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    drop(health);
    drop(shared);
    // Every service clone holding the audit sink is gone with the server future.
    tokio::task::spawn_blocking(move || audit_writer.finish())
        .await
        .context("audit writer failed")?;
    tracing::info!("stopped");
    result
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs `guardrail serve` to completion.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    init_logging(args.log_format);
    // Accepting, reloading, metrics and signals; the gRPC connections run on the event-loop
    // threads of `shards`.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("guardrail-serve")
        .build()
        .context("cannot start the async runtime")?;
    let config = ServerConfig::from(args);
    runtime.block_on(async {
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let metrics_listener = match args.metrics_listen {
            Some(addr) => {
                let l = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for metrics"))?;
                tracing::info!(metrics_addr = %l.local_addr()?, "metrics at /metrics");
                Some(l)
            }
            None => None,
        };
        serve(config, listener, metrics_listener, terminated()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
