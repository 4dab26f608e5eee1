//! Overload protection: a server-wide cap on requests being screened at once. A request over
//! the cap is refused at once with `RESOURCE_EXHAUSTED` (the caller backs off and retries)
//! instead of waiting in an unbounded queue.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use super::metrics::{Metrics, Rpc};

/// Hands out one permit per request being screened.
#[derive(Debug, Clone)]
pub struct Limiter {
    permits: Arc<Semaphore>,
    max: usize,
    metrics: Arc<Metrics>,
}

/// Held while a request is screened (moved into blocking work so that abandoned work still
/// counts against the cap); released on drop.
#[derive(Debug)]
pub struct Permit {
    permit: Option<OwnedSemaphorePermit>,
    metrics: Arc<Metrics>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        // The slot is free before the gauge says so: whoever sees the gauge drop can use it.
        drop(self.permit.take());
        self.metrics.in_flight(-1);
    }
}

impl Limiter {
    /// At most `max` requests at once (at least 1).
    pub fn new(max: usize, metrics: Arc<Metrics>) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Limiter {
            permits: Arc::new(Semaphore::new(max)),
            max,
            metrics,
        }
    }

    /// A permit, or `RESOURCE_EXHAUSTED` when `max` requests are already in flight.
    pub fn try_acquire(&self, rpc: Rpc) -> Result<Permit, Status> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                self.metrics.in_flight(1);
                Ok(Permit {
                    permit: Some(permit),
                    metrics: self.metrics.clone(),
                })
            }
            Err(_) => {
                self.metrics.rejected_overload(rpc);
                Err(Status::resource_exhausted(format!(
                    "server is at its limit of {} concurrent requests; retry with backoff",
                    self.max
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheds_over_the_cap() {
        let limiter = Limiter::new(1, Arc::new(Metrics::new()));
        let held = limiter.try_acquire(Rpc::ScreenAction).unwrap();
        let err = limiter.try_acquire(Rpc::ScreenAction).unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        drop(held);
        assert!(limiter.try_acquire(Rpc::ScreenAction).is_ok());
    }
}
