//! Policy reload: on SIGHUP, or when the policy file changes (its modification time, size or
//! inode, polled). A policy that does not load or compile is not installed: the old one keeps
//! serving and the error, with every issue, is logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::Shared;
use super::engine::Engine;

/// What identifies a version of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    ino: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        ino: std::os::unix::fs::MetadataExt::ino(&meta),
    })
}

/// Reloads the policy now. Returns whether the new policy was installed.
pub async fn reload(shared: &Arc<Shared>, path: &Path, why: &str) -> bool {
    let owned = path.to_owned();
    let grantable = shared.grantable.clone();
    let previous = shared.engine.load_full();
    let loaded = tokio::task::spawn_blocking(move || {
        Engine::load_after(Some(&owned), &grantable, Some(&previous))
    })
    .await;
    match loaded {
        Ok(Ok(engine)) => {
            let old = shared.engine.load().guard().policy_hash().to_owned();
            let new = engine.guard().policy_hash().to_owned();
            shared.metrics.set_policy_hash(&new);
            shared.engine.store(Arc::new(engine));
            shared.metrics.reload(true);
            tracing::info!(trigger = why, policy = %path.display(), old_hash = %old, new_hash = %new, "policy reloaded");
            true
        }
        Ok(Err(e)) => {
            shared.metrics.reload(false);
            tracing::warn!(
                trigger = why,
                policy = %path.display(),
                error = %e,
                kept_hash = %shared.engine.load().guard().policy_hash(),
                "policy reload refused; the previous policy stays in force"
            );
            false
        }
        Err(e) => {
            shared.metrics.reload(false);
            tracing::error!(error = %e, "policy reload task failed; the previous policy stays in force");
            false
        }
    }
}

/// Watches `path` until `stop` turns true: reloads on SIGHUP (when `sighup`) and when the
/// file's stamp changes and then stays the same for one `interval` (zero: never polled).
pub async fn watch(
    shared: Arc<Shared>,
    path: PathBuf,
    interval: Duration,
    sighup: bool,
    mut stop: watch::Receiver<bool>,
) {
    let mut last = stamp(&path);
    let mut pending: Option<Option<Stamp>> = None;
    let mut hup = if sighup {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload by file change only");
                None
            }
        }
    } else {
        None
    };
    let poll = !interval.is_zero();
    let mut ticker = tokio::time::interval(if poll {
        interval
    } else {
        Duration::from_secs(3600)
    });
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        let why = tokio::select! {
            _ = stop.changed() => return,
            Some(()) = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => "sighup",
            _ = ticker.tick(), if poll => {
                let now = stamp(&path);
                if now == last {
                    pending = None;
                    continue;
                }
                // Reload once the file has stayed the same for a whole interval, so that a
                // writer caught halfway is not read.
                if pending.as_ref() != Some(&now) {
                    pending = Some(now);
                    continue;
                }
                last = now;
                pending = None;
                "file_changed"
            }
        };
        if why == "sighup" {
            last = stamp(&path);
        }
        if *stop.borrow() {
            return;
        }
        reload(&shared, &path, why).await;
    }
}
