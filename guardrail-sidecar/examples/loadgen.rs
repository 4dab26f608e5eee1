//! Load generator for `ScreenAction`: fixed concurrency, a bounded run, RPS and latency
//! percentiles (client included: the time from sending a request to having its verdict).
//!
//! ```sh
//! # against an in-process server on 127.0.0.1:0 (audit off)
//! cargo run --release -p guardrail-sidecar --example loadgen -- --concurrency 32 --seconds 10
//! # against a running `guardrail serve`
//! cargo run --release -p guardrail-sidecar --example loadgen -- --addr 127.0.0.1:50051
//! ```
//!
//! `--threads` sets the client runtime's worker threads, `--server-threads` the in-process
//! server's event-loop threads (0: one per CPU, as `guardrail serve` does). Both default to 1:
//! client and server share the machine, and on 2 cores one busy thread each gets a core (with
//! two each, four busy threads took turns on two cores: fewer calls per second, a longer p99).
//!
//! The last stdout line is JSON:
//! `{"rpc":"screen_action","concurrency":32,"requests":N,"errors":0,"rps":F,"p50_us":F,...}`.
//! Traffic goes to loopback only and stops after `--seconds` (at most 300).

/// The server allocates per request (frames, headers, verdicts); mimalloc's thread-local
/// free lists cost less than the system allocator there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use guardrail_sidecar::proto::guardrail_client::GuardrailClient;
use guardrail_sidecar::proto::{RequestContext, ScreenActionRequest};
use guardrail_sidecar::serve::audit::AuditDest;
use guardrail_sidecar::serve::{ServerConfig, serve};
use tonic::transport::Channel;

/// Model outputs cycled through: allowed, denied and reviewed calls in several envelopes.
const OUTPUTS: &[&str] = &[
    r#"{"tool":"read_file","args":{"path":"/workspace/src/main.rs"}}"#,
    r#"{"tool":"read_file","args":{"path":"/workspace/../etc/shadow"}}"#,
    r#"I'll look at the config. {"tool":"read_file","path":"/workspace/config/app.toml"}"#,
    r##"{"tool":"write_file","args":{"path":"/workspace/out/report.md","content":"# Report\nAll good."}}"##,
    r#"{"tool":"http_get","args":{"url":"http://169.254.169.254/latest/meta-data/"}}"#,
    r#"{"type":"tool_use","id":"toolu_1","name":"read_file","input":{"path":"/workspace/README.md"}}"#,
    r#"{"tool":"db_query","args":{"sql":"SELECT id, name FROM users WHERE id = 42"}}"#,
    r#"{"tool":"db_query","args":{"sql":"DELETE FROM users"}}"#,
];

struct Args {
    addr: Option<SocketAddr>,
    concurrency: usize,
    connections: usize,
    seconds: u64,
    warmup_seconds: u64,
    threads: usize,
    server_threads: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        addr: None,
        concurrency: 32,
        connections: 2,
        seconds: 10,
        warmup_seconds: 1,
        threads: 1,
        server_threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = Some(value()?.parse()?),
            "--concurrency" => args.concurrency = value()?.parse()?,
            "--connections" => args.connections = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--warmup-seconds" => args.warmup_seconds = value()?.parse()?,
            "--threads" => args.threads = value()?.parse()?,
            "--server-threads" => args.server_threads = value()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "loadgen [--addr HOST:PORT] [--concurrency 32] [--connections 2] \
                     [--seconds 10] [--warmup-seconds 1] [--threads 1] [--server-threads 1]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown flag `{other}`"),
        }
    }
    if let Some(addr) = args.addr
        && !addr.ip().is_loopback()
    {
        bail!("--addr must be a loopback address");
    }
    args.concurrency = args.concurrency.clamp(1, 4096);
    args.connections = args.connections.clamp(1, args.concurrency);
    args.seconds = args.seconds.clamp(1, 300);
    args.warmup_seconds = args.warmup_seconds.min(60);
    args.threads = args.threads.max(1);
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let (addr, stop) = match args.addr {
        Some(a) => (a, None),
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let config = ServerConfig {
                audit: AuditDest::Off,
                max_concurrent: 4096,
                threads: args.server_threads,
                ..ServerConfig::default()
            };
            let task = tokio::spawn(serve(config, listener, None, async move {
                let _ = rx.await;
            }));
            (addr, Some((tx, task)))
        }
    };
    let mut channels = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        channels.push(connect(addr).await?);
    }
    let requests: Vec<ScreenActionRequest> = OUTPUTS
        .iter()
        .map(|o| ScreenActionRequest {
            model_output: o.as_bytes().to_vec(),
            context: Some(RequestContext {
                goal_id: "loadgen".into(),
                task_id: "t".into(),
                lane: "bench".into(),
            }),
            ..Default::default()
        })
        .collect();

    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup_seconds);
    let end = measure_from + Duration::from_secs(args.seconds);
    let mut workers = Vec::with_capacity(args.concurrency);
    for (i, channel) in (0..args.concurrency).zip(channels.iter().cycle()) {
        let mut client = GuardrailClient::new(channel.clone());
        let mut requests = requests.clone().into_iter().cycle().skip(i);
        workers.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let Some(req) = requests.next() else { break };
                let ok = client.screen_action(req).await.is_ok();
                let done = Instant::now();
                if sent >= measure_from {
                    if ok {
                        let us = done.duration_since(sent).as_nanos() / 1000;
                        latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    let measured = end.duration_since(measure_from).as_secs_f64();
    if let Some((tx, task)) = stop {
        let _ = tx.send(());
        task.await??;
    }
    all.sort_unstable();
    if all.is_empty() {
        bail!("no request succeeded ({errors} errors)");
    }
    let pct = |p: f64| {
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        f64::from(all.get(i).or(all.last()).copied().unwrap_or(0))
    };
    let rps = all.len() as f64 / measured;
    eprintln!(
        "screen_action: concurrency {} over {} connection(s), {:.0} RPC/s, p50 {:.0} µs, \
         p90 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs, {errors} errors",
        args.concurrency,
        args.connections,
        rps,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0),
    );
    println!(
        "{}",
        serde_json::json!({
            "rpc": "screen_action",
            "server": if args.addr.is_some() { "external" } else { "in_process" },
            "concurrency": args.concurrency,
            "connections": args.connections,
            "seconds": args.seconds,
            "requests": all.len(),
            "errors": errors,
            "rps": rps.round(),
            "p50_us": pct(0.50),
            "p90_us": pct(0.90),
            "p99_us": pct(0.99),
            "p999_us": pct(0.999),
            "max_us": pct(1.0),
        })
    );
    if errors > 0 {
        bail!("{errors} requests failed");
    }
    Ok(())
}

async fn connect(addr: SocketAddr) -> Result<Channel> {
    let url = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Channel::from_shared(url.clone())?
            .tcp_nodelay(true)
            .connect()
            .await
        {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
