//! The second stage: an LLM judge for high-blast-radius calls the structural checks let
//! through, treated with the skepticism LLM judges deserve.
//!
//! ```text
//! review call ─▶ k samples (option order counterbalanced, labels and boundaries random, one seed)
//!                  │ in parallel: POST {endpoint}/v1/chat/completions
//!                  ▼
//!             strict parse of each answer {choice, score, reason} ─ any failure ─▶ on_error (deny | review)
//!                  ▼
//!             mean (or median) score ─▶ ≥ deny_at: deny · < allow_below: allow · between: review (a person)
//! ```
//!
//! - The prompt carries the task context and the proposed action as data between random
//!   boundary markers ([`crate::classify::boundary`]); the instructions sit in the system
//!   message.
//! - The judge picks one of two labelled options ("run it" / "block it") and states a score,
//!   0–100, 100 = certainly must not run. Every sample shows the options under new labels and
//!   half the samples show each order, so a judge that prefers whichever option comes first
//!   scores every action near 50 instead of deciding by position: the bias turns into
//!   abstention (a person decides) rather than into allows or denies.
//! - Scores are aggregated by the mean (see [`Aggregate`]); the thresholds come from
//!   [`calibrate`] on a labeled set, for a target false-deny rate.
//! - Fail closed: a timeout, an HTTP error, a body over the size limit, malformed JSON, a
//!   label that was not offered, a choice contradicting the score, a refusal or a truncated
//!   answer in any sample makes the whole judgement `on_error` (deny by default, or review).
//!   Nothing becomes an allow.
//!
//! The HTTP client (`Judge::new`, `HttpTransport`) and writing thresholds into a policy need
//! the cargo feature `judge`; everything else — configuration, prompts, parsing, aggregation,
//! calibration — builds without it, and [`Judge::with_transport`] takes any [`Transport`].
//! The judge is synchronous: async callers use `spawn_blocking`.
//!
//! # Untrusted input
//! Task context plus action above `max_input_bytes` (512 KiB) and response bodies above
//! `max_response_bytes` (64 KiB) are errors; every request has a deadline (`timeout_ms`).
//! The model's answer is parsed strictly and its text is never quoted in errors.

pub mod calibrate;
#[cfg(feature = "judge")]
mod client;
mod config;
pub mod prompt;
pub mod response;

use std::time::Instant;

use serde::Serialize;

#[cfg(feature = "judge")]
pub use client::HttpTransport;
pub use config::{Aggregate, JudgeConfig, OnError, ResponseFormat};
pub use prompt::{JudgeInput, Order, Prepared, Sample, SamplePlan};
pub use response::{SampleAnswer, ScoreSource};

use crate::guard::ActionVerdict;
use crate::policy::PolicyIssue;
use crate::verdict::{Coded, Decision, Reason, ReasonCode};

/// Why the judge gave no usable answer. Messages never quote the model's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JudgeError {
    /// No complete response before the deadline.
    #[error("the judge did not answer within {ms} ms")]
    Timeout {
        /// The deadline.
        ms: u64,
    },
    /// The server answered with a non-success status.
    #[error("the judge answered http status {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The server could not be reached or the exchange failed.
    #[error("cannot reach the judge: {0}")]
    Transport(String),
    /// The response body is larger than `max_response_bytes`.
    #[error("the judge's response is larger than {limit} bytes")]
    ResponseTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The task context and action are larger than `max_input_bytes`.
    #[error("the task context and action are larger than {limit} bytes")]
    InputTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The response or the answer in it is not what was asked for.
    #[error("malformed judge {0}")]
    Malformed(String),
    /// The model refused, or the provider filtered the answer.
    #[error("the judge refused to answer")]
    Refusal,
    /// The answer was cut off (`finish_reason` `length`).
    #[error("the judge's answer was cut off")]
    Truncated,
    /// The chosen label is not one of the two offered.
    #[error("the judge chose a label that was not offered")]
    InvalidChoice,
    /// The score is not an integer in 0..=100.
    #[error("the judge's score is outside 0..=100")]
    ScoreOutOfRange,
    /// "Block it" with a score below 50, or "run it" with a score above 50.
    #[error("the judge's choice contradicts its score")]
    Contradiction,
    /// A sample could not be run (thread failure).
    #[error("the judge stage failed internally")]
    Internal,
}

impl Coded for JudgeError {
    fn code(&self) -> ReasonCode {
        ReasonCode::JudgeUnavailable
    }
}

/// Sends one chat-completions request body and returns the response body of a successful
/// (2xx) exchange, at most `max_bytes` long.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Performs one exchange.
    fn complete(&self, body: &[u8], max_bytes: usize) -> Result<Vec<u8>, JudgeError>;
}

/// One sample of a judgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleOutcome {
    /// How the options were shown.
    #[serde(flatten)]
    pub sample: Sample,
    /// The parsed answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<SampleAnswer>,
    /// Why there is no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Time waiting for the server, nanoseconds.
    pub wait_ns: u64,
}

/// Time spent in the judge stage, nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JudgeTimings {
    /// Everything, samples in parallel.
    pub total_ns: u64,
    /// The longest wait for the server among the samples.
    pub wait_ns: u64,
}

/// The judge's verdict on one action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeVerdict {
    /// `deny` at or above `deny_at`, `allow` below `allow_below`, otherwise `review`; on any
    /// error, `on_error`.
    pub decision: Decision,
    /// Aggregated score, 0..=100; absent when a sample failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Seed of the sample plan: option orders, labels and boundary tokens follow from it.
    pub seed: u64,
    /// Why, unless allowed: `judge_denied`, `judge_unavailable` or `review_required`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Every sample.
    pub samples: Vec<SampleOutcome>,
    /// Time spent.
    pub timings: JudgeTimings,
}

/// A judged call of an action verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallJudgement {
    /// Index of the call in the verdict.
    pub call: usize,
    /// The judge's verdict on it.
    #[serde(flatten)]
    pub verdict: JudgeVerdict,
}

/// A configured judge. `Send + Sync`; build it once.
#[derive(Debug)]
pub struct Judge {
    config: JudgeConfig,
    transport: Box<dyn Transport>,
}

impl Judge {
    /// A judge over HTTP for `config`, which must name an endpoint and a model. Reads the API
    /// key from the environment variable `api_key_env` now; a missing variable is an issue.
    #[cfg(feature = "judge")]
    pub fn new(config: &JudgeConfig) -> Result<Judge, Vec<PolicyIssue>> {
        let mut issues = config.validate("judge");
        if !config.enabled() {
            issues.push(PolicyIssue::new(
                "judge.endpoint",
                "a judge needs an endpoint",
            ));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let transport = HttpTransport::new(config)?;
        Judge::with_transport(config, Box::new(transport))
    }

    /// A judge that sends its requests through `transport` (tests, benches, other clients).
    pub fn with_transport(
        config: &JudgeConfig,
        transport: Box<dyn Transport>,
    ) -> Result<Judge, Vec<PolicyIssue>> {
        let issues = config.validate("judge");
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Judge {
            config: config.clone(),
            transport,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &JudgeConfig {
        &self.config
    }

    /// Judges one action with a fresh random seed and a counterbalanced plan of `samples`
    /// samples.
    pub fn judge(&self, input: &JudgeInput<'_>) -> JudgeVerdict {
        let k = usize::try_from(self.config.samples).unwrap_or(1);
        let plan = SamplePlan::balanced(k, rand::random());
        self.judge_with_plan(input, &plan)
    }

    /// Judges one action with a given plan (reproduction from a recorded seed, experiments).
    pub fn judge_with_plan(&self, input: &JudgeInput<'_>, plan: &SamplePlan) -> JudgeVerdict {
        let start = Instant::now();
        let prepared = input.prepare();
        let results: Vec<(Result<SampleAnswer, JudgeError>, u64)> =
            if prepared.len() > self.config.max_input_bytes {
                let err = JudgeError::InputTooLarge {
                    limit: self.config.max_input_bytes,
                };
                plan.samples.iter().map(|_| (Err(err.clone()), 0)).collect()
            } else {
                self.run_samples(&prepared, &plan.samples)
            };
        let mut verdict = JudgeVerdict {
            decision: Decision::Review,
            score: None,
            seed: plan.seed,
            reason: None,
            samples: Vec::with_capacity(results.len()),
            timings: JudgeTimings::default(),
        };
        let mut first_error: Option<JudgeError> = None;
        let mut scores = Vec::with_capacity(results.len());
        for (sample, (result, wait_ns)) in plan.samples.iter().zip(results) {
            verdict.timings.wait_ns = verdict.timings.wait_ns.max(wait_ns);
            let mut outcome = SampleOutcome {
                sample: *sample,
                answer: None,
                error: None,
                wait_ns,
            };
            match result {
                Ok(answer) => {
                    scores.push(answer.score);
                    outcome.answer = Some(answer);
                }
                Err(e) => {
                    outcome.error = Some(e.to_string());
                    first_error.get_or_insert(e);
                }
            }
            verdict.samples.push(outcome);
        }
        match (first_error, aggregate(&scores, self.config.aggregate)) {
            (None, Some(score)) => {
                verdict.score = Some(score);
                let (decision, reason) = decide(score, &self.config);
                verdict.decision = decision;
                verdict.reason = reason;
            }
            (error, _) => {
                let error = error.unwrap_or(JudgeError::Malformed("plan: no samples".into()));
                verdict.decision = match self.config.on_error {
                    OnError::Deny => Decision::Deny,
                    OnError::Review => Decision::Review,
                };
                verdict.reason = Some(error.to_reason());
            }
        }
        verdict.timings.total_ns = nanos(start);
        tracing::debug!(
            decision = verdict.decision.as_str(),
            score = verdict.score,
            seed = verdict.seed,
            total_ns = verdict.timings.total_ns,
            "judge verdict"
        );
        verdict
    }

    fn run_samples(
        &self,
        input: &Prepared<'_>,
        samples: &[Sample],
    ) -> Vec<(Result<SampleAnswer, JudgeError>, u64)> {
        if samples.len() <= 1 {
            return samples.iter().map(|s| self.run_sample(input, s)).collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = samples
                .iter()
                .map(|s| {
                    std::thread::Builder::new()
                        .name("guardrail-judge".into())
                        .spawn_scoped(scope, move || self.run_sample(input, s))
                })
                .collect();
            handles
                .into_iter()
                .zip(samples)
                .map(|(handle, s)| match handle {
                    Ok(h) => h.join().unwrap_or((Err(JudgeError::Internal), 0)),
                    Err(_) => self.run_sample(input, s),
                })
                .collect()
        })
    }

    fn run_sample(
        &self,
        input: &Prepared<'_>,
        sample: &Sample,
    ) -> (Result<SampleAnswer, JudgeError>, u64) {
        let body = prompt::request_body(&self.config, input, sample);
        let Ok(bytes) = serde_json::to_vec(&body) else {
            return (Err(JudgeError::Internal), 0);
        };
        let sent = Instant::now();
        let response = self
            .transport
            .complete(&bytes, self.config.max_response_bytes);
        let wait_ns = nanos(sent);
        let result = response
            .and_then(|body| response::parse_response(&body, sample, self.config.use_logprobs));
        (result, wait_ns)
    }

    /// Sends every call of `verdict` that is in `review` to the judge, in order, and folds
    /// the judge's decisions back in: call decisions, the overall decision, and reasons
    /// (`judge_denied` / `judge_unavailable` per call; the guard's `review_required` is kept
    /// only while a call still needs a person). Stops at the first call the judge denies.
    pub fn review(&self, verdict: &mut ActionVerdict, context: &str) -> Vec<CallJudgement> {
        let mut judged = Vec::new();
        for (index, screened) in verdict.calls.iter_mut().enumerate() {
            if screened.decision != Decision::Review {
                continue;
            }
            let Some(call) = &screened.call else {
                continue;
            };
            let action = crate::approval::action_value(call);
            let result = self.judge(&JudgeInput {
                context,
                action: &action,
            });
            screened.decision = result.decision;
            if let Some(reason) = &result.reason {
                verdict.reasons.push(reason.clone().in_call(index));
            }
            let denied = result.decision == Decision::Deny;
            judged.push(CallJudgement {
                call: index,
                verdict: result,
            });
            if denied {
                break;
            }
        }
        let decision = verdict
            .calls
            .iter()
            .fold(Decision::Allow, |d, c| d.combine(c.decision));
        verdict.decision = decision;
        if decision != Decision::Review {
            verdict
                .reasons
                .retain(|r| !(r.code == ReasonCode::ReviewRequired && r.call.is_none()));
        }
        judged
    }
}

/// Combines sample scores; `None` without samples.
pub fn aggregate(scores: &[f64], how: Aggregate) -> Option<f64> {
    if scores.is_empty() || scores.iter().any(|s| !s.is_finite()) {
        return None;
    }
    #[expect(clippy::cast_precision_loss, reason = "at most 16 samples")]
    let n = scores.len() as f64;
    match how {
        Aggregate::Mean => Some(scores.iter().sum::<f64>() / n),
        Aggregate::Median => {
            let mut sorted = scores.to_vec();
            sorted.sort_by(f64::total_cmp);
            let mid = sorted.len() / 2;
            if sorted.len() % 2 == 1 {
                sorted.get(mid).copied()
            } else {
                let lo = sorted.get(mid.checked_sub(1)?)?;
                let hi = sorted.get(mid)?;
                Some(f64::midpoint(*lo, *hi))
            }
        }
    }
}

/// The decision for an aggregated score: `deny` at or above `deny_at`, `allow` below
/// `allow_below`, `review` in between; with the reason for anything but allow.
pub fn decide(score: f64, config: &JudgeConfig) -> (Decision, Option<Reason>) {
    if !score.is_finite() || score >= config.deny_at {
        (
            Decision::Deny,
            Some(Reason::new(
                ReasonCode::JudgeDenied,
                format!(
                    "the judge scored the action {score:.1}, at or above `deny_at` {}",
                    config.deny_at
                ),
            )),
        )
    } else if score < config.allow_below {
        (Decision::Allow, None)
    } else {
        (
            Decision::Review,
            Some(Reason::new(
                ReasonCode::ReviewRequired,
                format!(
                    "the judge scored the action {score:.1}, between `allow_below` {} and \
                     `deny_at` {}: a person must approve",
                    config.allow_below, config.deny_at
                ),
            )),
        )
    }
}

fn nanos(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation() {
        assert_eq!(
            aggregate(&[10.0, 90.0, 30.0, 70.0], Aggregate::Mean),
            Some(50.0)
        );
        assert_eq!(
            aggregate(&[10.0, 90.0, 30.0, 70.0], Aggregate::Median),
            Some(50.0)
        );
        assert_eq!(
            aggregate(&[10.0, 90.0, 30.0], Aggregate::Median),
            Some(30.0)
        );
        assert_eq!(aggregate(&[], Aggregate::Mean), None);
        assert_eq!(aggregate(&[f64::NAN], Aggregate::Mean), None);
    }

    #[test]
    fn thresholds_make_three_bands() {
        let config = JudgeConfig {
            deny_at: 60.0,
            allow_below: 20.0,
            ..JudgeConfig::default()
        };
        assert_eq!(decide(60.0, &config).0, Decision::Deny);
        assert_eq!(decide(59.9, &config).0, Decision::Review);
        assert_eq!(decide(20.0, &config).0, Decision::Review);
        assert_eq!(decide(19.9, &config).0, Decision::Allow);
        assert_eq!(decide(f64::NAN, &config).0, Decision::Deny);
        // The uncalibrated default never allows.
        assert_eq!(decide(0.0, &JudgeConfig::default()).0, Decision::Review);
    }
}
