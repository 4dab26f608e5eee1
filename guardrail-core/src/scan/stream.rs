//! Streaming scan and redaction of tool output.
//!
//! The scanner decides every finding from the bytes within [`SecretScanner::reach`] of it. The
//! stream keeps a buffer starting `reach` bytes before the first byte not yet emitted, scans it
//! when a batch has arrived, and emits up to `reach` bytes before the buffer's end, moved back
//! to the start of any finding that crosses that point. So every finding is decided on the same
//! bytes as in a one-shot scan, no finding is cut by an emit boundary, and each is redacted
//! exactly once. Memory stays within `2 * reach + batch` bytes plus the pushed chunk's slice.

use super::Finding;
use super::redact::{Redaction, placeholder};
use super::secrets::SecretScanner;
use super::session::SeenSecrets;

/// Bytes accumulated before a scan (smaller pushes wait; `finish` flushes).
const BATCH: usize = 64 * 1024;

/// What one push (or `finish`) produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamOutput {
    /// Findings in the emitted bytes, with absolute offsets into the whole stream.
    pub findings: Vec<Finding>,
    /// Redacted output, ready to forward; the concatenation over all pushes and `finish` is
    /// the redaction of the whole stream.
    pub redacted: Vec<u8>,
}

impl StreamOutput {
    /// Appends what a later push (or `finish`) produced, so that one output collects a whole
    /// stream.
    pub fn append(&mut self, later: StreamOutput) {
        self.findings.extend(later.findings);
        self.redacted.extend(later.redacted);
    }
}

/// Scans and redacts a stream of chunks in constant memory.
#[derive(Debug)]
pub struct StreamScanner<'s> {
    scanner: &'s SecretScanner,
    redaction: Redaction,
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    base: usize,
    /// Absolute offset of the first byte not yet emitted.
    emitted: usize,
    /// Bytes appended since the last scan.
    pending: usize,
    batch: usize,
    /// Build the redacted text (off: findings only, `redacted` stays empty).
    redacting: bool,
}

impl<'s> StreamScanner<'s> {
    /// A stream over `scanner`, replacing secrets per `redaction`.
    pub fn new(scanner: &'s SecretScanner, redaction: Redaction) -> Self {
        StreamScanner {
            scanner,
            redaction,
            buf: Vec::new(),
            base: 0,
            emitted: 0,
            pending: 0,
            batch: BATCH,
            redacting: true,
        }
    }

    /// Sets how many bytes accumulate between scans (default 64 KiB, at least 1). Smaller
    /// batches emit sooner and rescan the carried tail more often.
    pub fn set_batch(&mut self, bytes: usize) -> &mut Self {
        self.batch = bytes.max(1);
        self
    }

    /// Reports findings only: [`StreamOutput::redacted`] stays empty, and the stream copies
    /// nothing but the carried tail.
    pub fn findings_only(&mut self) -> &mut Self {
        self.redacting = false;
        self
    }

    /// Total bytes pushed so far.
    pub fn position(&self) -> usize {
        self.base + self.buf.len()
    }

    /// Feeds a chunk of any size.
    pub fn push(&mut self, chunk: &[u8]) -> StreamOutput {
        self.push_inner(chunk, None)
    }

    /// Feeds a chunk and records every emitted secret in `seen`.
    pub fn push_recording(&mut self, chunk: &[u8], seen: &mut SeenSecrets) -> StreamOutput {
        self.push_inner(chunk, Some(seen))
    }

    /// Flushes everything held back; the stream is complete.
    pub fn finish(&mut self) -> StreamOutput {
        let mut out = StreamOutput::default();
        self.step(true, &mut out, None);
        out
    }

    /// [`finish`](Self::finish), recording emitted secrets in `seen`.
    pub fn finish_recording(&mut self, seen: &mut SeenSecrets) -> StreamOutput {
        let mut out = StreamOutput::default();
        self.step(true, &mut out, Some(seen));
        out
    }

    fn push_inner(&mut self, chunk: &[u8], mut seen: Option<&mut SeenSecrets>) -> StreamOutput {
        let mut out = StreamOutput::default();
        for piece in chunk.chunks(self.batch) {
            self.buf.extend_from_slice(piece);
            self.pending += piece.len();
            if self.pending >= self.batch {
                self.step(false, &mut out, seen.as_deref_mut());
            }
        }
        out
    }

    fn step(
        &mut self,
        finishing: bool,
        out: &mut StreamOutput,
        mut seen: Option<&mut SeenSecrets>,
    ) {
        self.pending = 0;
        let reach = self.scanner.reach();
        let findings = self.scanner.scan_in_stream(&self.buf);
        let from = self.emitted.saturating_sub(self.base);
        let mut cut = if finishing {
            self.buf.len()
        } else {
            self.buf.len().saturating_sub(reach)
        };
        if let Some(f) = findings.iter().find(|f| f.start < cut && f.end > cut) {
            cut = f.start;
        }
        if cut <= from {
            // One finding group longer than the carried tail: split it rather than grow.
            if self.buf.len() <= 2 * reach + 4 * self.batch {
                return;
            }
            cut = self.buf.len().saturating_sub(reach);
        }
        if self.redacting {
            out.redacted.reserve(cut.saturating_sub(from));
        }
        let mut pos = from;
        for f in &findings {
            if f.end <= from || f.start >= cut {
                continue;
            }
            let s = f.start.max(from);
            let e = f.end.min(cut);
            let secret = self.buf.get(s..e).unwrap_or(&[]);
            if self.redacting {
                out.redacted
                    .extend_from_slice(self.buf.get(pos..s).unwrap_or(&[]));
                out.redacted
                    .extend_from_slice(&placeholder(&f.rule, secret, &self.redaction));
            }
            if let Some(seen) = seen.as_deref_mut() {
                seen.insert(secret);
            }
            let mut abs = f.clone();
            abs.start = s + self.base;
            abs.end = e + self.base;
            out.findings.push(abs);
            pos = e;
        }
        if self.redacting {
            out.redacted
                .extend_from_slice(self.buf.get(pos..cut).unwrap_or(&[]));
        }
        self.emitted = self.base + cut;
        let keep_from = cut.saturating_sub(reach);
        self.buf.drain(..keep_from);
        self.base += keep_from;
    }
}
