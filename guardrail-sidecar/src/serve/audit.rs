//! The audit log: one JSON line per decision.
//!
//! A line names who asked (the client certificate's identity, else `x-agent-identity`, and
//! whether that name is verified), for which
//! goal and task, what was decided and why (reason codes only), and the policy and model that
//! decided. It never carries the screened payload, an argument, a secret or a message text.
//! Lines are written by one thread in batches; a full queue makes the request wait (the log is
//! not dropped).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::metrics::Metrics;

/// Lines queued before a request waits for the writer.
const QUEUE: usize = 16 * 1024;

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditDest {
    /// Standard output.
    Stdout,
    /// Appended to a file.
    File(PathBuf),
    /// Nowhere.
    Off,
}

impl std::str::FromStr for AuditDest {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "-" | "stdout" => AuditDest::Stdout,
            "off" | "none" => AuditDest::Off,
            path => AuditDest::File(PathBuf::from(path)),
        })
    }
}

/// One decision, as logged.
#[derive(Debug, Serialize)]
pub struct AuditRecord<'a> {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// `decision`, `scan`, or `review` for Approve / Deny / Redeem.
    pub event: &'static str,
    /// The RPC.
    pub rpc: &'static str,
    /// The caller, from the client certificate or `x-agent-identity`; empty when absent.
    pub identity: &'a str,
    /// Whether `identity` is verified (a client certificate, or the header behind a trusted
    /// gateway).
    pub identity_verified: bool,
    /// The peer address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<std::net::SocketAddr>,
    /// Goal id from the request context.
    pub goal_id: &'a str,
    /// Task id from the request context.
    pub task_id: &'a str,
    /// Dispatch lane from the request context.
    pub lane: &'a str,
    /// `allow`, `deny` or `review`.
    pub decision: &'static str,
    /// Reason codes, in order.
    pub reasons: Vec<&'static str>,
    /// Tools of the calls found (action screening).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<&'a str>,
    /// Hosts granted to this request only.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub granted_hosts: &'a [String],
    /// Rule ids of secrets found (output scanning).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<&'a str>,
    /// The first 8 hex digits of each review opened or resolved (the full id is a capability
    /// and is never logged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<&'a str>,
    /// Who approved or denied a review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approver: Option<&'a str>,
    /// Input source (input screening).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    /// Bytes screened.
    pub bytes: u64,
    /// SHA-256 of the policy that decided.
    pub policy_hash: &'a str,
    /// SHA-256 of the classifier model; empty without one.
    pub model_hash: &'a str,
    /// Server-side time, in microseconds.
    pub duration_us: u64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The sending half: cheap to share; serializes a record and queues the line.
#[derive(Debug, Clone)]
pub struct AuditSink {
    tx: Option<SyncSender<String>>,
    metrics: Arc<Metrics>,
}

/// The writer thread; [`AuditWriter::finish`] waits until every queued line is written.
#[derive(Debug)]
pub struct AuditWriter {
    thread: Option<JoinHandle<()>>,
}

impl AuditWriter {
    /// Waits for the writer to drain and flush. Every [`AuditSink`] must be dropped first.
    pub fn finish(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl AuditSink {
    /// Opens the destination and starts the writer thread.
    pub fn start(
        dest: &AuditDest,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(AuditSink, AuditWriter)> {
        let out: Box<dyn Write + Send> = match dest {
            AuditDest::Off => {
                return Ok((
                    AuditSink { tx: None, metrics },
                    AuditWriter { thread: None },
                ));
            }
            AuditDest::Stdout => Box::new(std::io::stdout()),
            AuditDest::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let writer_metrics = metrics.clone();
        let thread = std::thread::Builder::new()
            .name("guardrail-audit".to_owned())
            .spawn(move || write_lines(rx, out, &writer_metrics))?;
        Ok((
            AuditSink {
                tx: Some(tx),
                metrics,
            },
            AuditWriter {
                thread: Some(thread),
            },
        ))
    }

    /// Logs one record.
    pub fn record(&self, record: &AuditRecord<'_>) {
        let Some(tx) = &self.tx else { return };
        match serde_json::to_string(record) {
            Ok(line) => {
                if tx.send(line).is_err() {
                    self.metrics.audit_error();
                }
            }
            Err(e) => {
                self.metrics.audit_error();
                tracing::error!(error = %e, "cannot serialize an audit record");
            }
        }
    }
}

fn write_lines(rx: Receiver<String>, out: Box<dyn Write + Send>, metrics: &Metrics) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let write = |out: &mut std::io::BufWriter<Box<dyn Write + Send>>, line: String| {
        if out
            .write_all(line.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .is_err()
        {
            metrics.audit_error();
        }
    };
    while let Ok(line) = rx.recv() {
        write(&mut out, line);
        while let Ok(line) = rx.try_recv() {
            write(&mut out, line);
        }
        if let Err(e) = out.flush() {
            metrics.audit_error();
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_destinations() {
        assert_eq!("-".parse::<AuditDest>().ok(), Some(AuditDest::Stdout));
        assert_eq!("off".parse::<AuditDest>().ok(), Some(AuditDest::Off));
        assert_eq!(
            "/var/log/a.jsonl".parse::<AuditDest>().ok(),
            Some(AuditDest::File(PathBuf::from("/var/log/a.jsonl")))
        );
    }
}
