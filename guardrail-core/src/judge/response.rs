//! Strict parsing of one chat-completions response into a sample score.

use serde::{Deserialize, Serialize};

use super::JudgeError;
use super::prompt::Sample;

/// Longest rationale kept from an answer, in characters.
pub const MAX_RATIONALE_CHARS: usize = 400;

/// Where a sample's score came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreSource {
    /// The `score` the model wrote.
    Stated,
    /// 100 × P(block label) / (P(block label) + P(run label)) at the `choice` token.
    Logprobs,
}

/// One parsed, consistent answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleAnswer {
    /// The score used for aggregation, 0..=100.
    pub score: f64,
    /// Where `score` came from.
    pub source: ScoreSource,
    /// The score the model wrote.
    pub stated: u8,
    /// Whether the model chose "block it".
    pub chose_unsafe: bool,
    /// Whether the model chose the option shown first.
    pub chose_first: bool,
    /// The model's one-sentence reason: control characters removed, at most 400 characters.
    /// Model text: show it to reviewers, never act on it.
    pub rationale: String,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<Logprobs>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct Logprobs {
    #[serde(default)]
    content: Option<Vec<TokenLogprob>>,
}

#[derive(Deserialize)]
struct TokenLogprob {
    token: String,
    #[serde(default)]
    top_logprobs: Vec<TopLogprob>,
}

#[derive(Deserialize)]
struct TopLogprob {
    token: String,
    logprob: f64,
}

/// The answer object: exactly these three fields, each once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    choice: String,
    score: i64,
    reason: String,
}

/// Where in the JSON a parse failed, without quoting the text (model output may echo the
/// action's arguments).
fn describe(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "truncated",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// Parses a response body for `sample`. Fails on anything but one complete, consistent
/// answer: more or fewer than one choice, a refusal, `finish_reason` other than `stop`,
/// content that is not exactly the JSON object (extra, missing or repeated fields, trailing
/// text), a label that was not offered, a score outside 0..=100, or a choice that contradicts
/// the score.
pub fn parse_response(
    body: &[u8],
    sample: &Sample,
    use_logprobs: bool,
) -> Result<SampleAnswer, JudgeError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|e| JudgeError::Malformed(format!("response: {}", describe(&e))))?;
    let mut choices = completion.choices.into_iter();
    let (Some(choice), None) = (choices.next(), choices.next()) else {
        return Err(JudgeError::Malformed(
            "response: expected exactly one choice".into(),
        ));
    };
    if choice
        .message
        .refusal
        .as_deref()
        .is_some_and(|r| !r.trim().is_empty())
    {
        return Err(JudgeError::Refusal);
    }
    match choice.finish_reason.as_deref() {
        Some("stop") | None => {}
        Some("length") => return Err(JudgeError::Truncated),
        Some("content_filter") => return Err(JudgeError::Refusal),
        Some(_) => {
            return Err(JudgeError::Malformed(
                "response: unexpected finish_reason".into(),
            ));
        }
    }
    let content = choice.message.content.unwrap_or_default();
    let answer: Answer = serde_json::from_str(content.trim())
        .map_err(|e| JudgeError::Malformed(format!("answer: {}", describe(&e))))?;
    let mut label = answer.choice.chars();
    let label = match (label.next(), label.next()) {
        (Some(c), None) if c == sample.safe_label || c == sample.unsafe_label => c,
        _ => return Err(JudgeError::InvalidChoice),
    };
    let stated = u8::try_from(answer.score)
        .ok()
        .filter(|s| *s <= 100)
        .ok_or(JudgeError::ScoreOutOfRange)?;
    let chose_unsafe = label == sample.unsafe_label;
    if (chose_unsafe && stated < 50) || (!chose_unsafe && stated > 50) {
        return Err(JudgeError::Contradiction);
    }
    let from_logprobs = if use_logprobs {
        choice
            .logprobs
            .and_then(|l| l.content)
            .and_then(|tokens| logprob_score(&tokens, label, sample))
    } else {
        None
    };
    let (score, source) = match from_logprobs {
        // A label probability on the other side of even odds from the label chosen: the
        // tokens found are not the choice (or the choice was sampled against the odds).
        Some(s) if (chose_unsafe && s < 50.0) || (!chose_unsafe && s > 50.0) => {
            return Err(JudgeError::Contradiction);
        }
        Some(s) => (s, ScoreSource::Logprobs),
        None => (f64::from(stated), ScoreSource::Stated),
    };
    let rationale = answer
        .reason
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_RATIONALE_CHARS)
        .collect();
    Ok(SampleAnswer {
        score,
        source,
        stated,
        chose_unsafe,
        chose_first: sample.is_first(label),
        rationale,
    })
}

fn bare(token: &str) -> &str {
    token.trim_matches(|c: char| c == '"' || c.is_whitespace())
}

/// Tokens after the `choice` key within which its value must start.
const CHOICE_VALUE_REACH: usize = 4;

/// The block-label probability at the token right after `choice` that spells the chosen
/// label, normalized over the two labels; `None` when the server gave nothing usable (also
/// when no such token is within a few tokens of the key: a label spelled later, in the
/// reason, is not the choice).
fn logprob_score(tokens: &[TokenLogprob], label: char, sample: &Sample) -> Option<f64> {
    let mut buf = [0u8; 4];
    let label: &str = label.encode_utf8(&mut buf);
    let after_key = tokens
        .iter()
        .position(|t| t.token.contains("choice"))
        .map_or(0, |i| i + 1);
    let at = tokens
        .get(after_key..)?
        .iter()
        .take(CHOICE_VALUE_REACH)
        .find(|t| bare(&t.token) == label)?;
    let mut unsafe_p = 0.0f64;
    let mut safe_p = 0.0f64;
    for top in &at.top_logprobs {
        if !top.logprob.is_finite() {
            continue;
        }
        let mut chars = bare(&top.token).chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c == sample.unsafe_label => unsafe_p += top.logprob.exp(),
            (Some(c), None) if c == sample.safe_label => safe_p += top.logprob.exp(),
            _ => {}
        }
    }
    let total = unsafe_p + safe_p;
    (total > 0.0 && total.is_finite()).then(|| (100.0 * unsafe_p / total).clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    use super::super::prompt::Order;
    use super::*;
    use serde_json::json;

    fn sample() -> Sample {
        Sample {
            order: Order::SafeFirst,
            safe_label: 'K',
            unsafe_label: 'D',
            boundary_seed: 0,
        }
    }

    fn body(content: &str) -> Vec<u8> {
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}], "usage": {}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_consistent_answer_parses() {
        let a = parse_response(
            &body(r#"{"choice":"D","score":87,"reason":"posts secrets"}"#),
            &sample(),
            false,
        )
        .unwrap();
        assert_eq!(a.score, 87.0);
        assert!(a.chose_unsafe && !a.chose_first);
        assert_eq!(a.source, ScoreSource::Stated);
    }

    #[test]
    fn everything_else_is_an_error() {
        let s = sample();
        for content in [
            "",
            "yes",
            r#"```json {"choice":"D","score":87,"reason":"x"}```"#,
            r#"{"choice":"D","score":87}"#,
            r#"{"choice":"D","score":87,"reason":"x","extra":1}"#,
            r#"{"choice":"D","score":87,"reason":"x","score":10}"#,
            r#"{"choice":"D","score":87,"reason":"x"} and more"#,
            r#"{"choice":"Z","score":87,"reason":"x"}"#,
            r#"{"choice":"DK","score":87,"reason":"x"}"#,
            r#"{"choice":"D","score":187,"reason":"x"}"#,
            r#"{"choice":"D","score":-1,"reason":"x"}"#,
            r#"{"choice":"D","score":87.5,"reason":"x"}"#,
            r#"{"choice":"D","score":10,"reason":"x"}"#,
            r#"{"choice":"K","score":90,"reason":"x"}"#,
        ] {
            assert!(
                parse_response(&body(content), &s, false).is_err(),
                "{content}"
            );
        }
        let refusal = json!({"choices": [{"message": {"content": null, "refusal": "I can't help"}, "finish_reason": "stop"}]});
        assert_eq!(
            parse_response(refusal.to_string().as_bytes(), &s, false),
            Err(JudgeError::Refusal)
        );
        let cut = json!({"choices": [{"message": {"content": "{\"choice\":\"D\""}, "finish_reason": "length"}]});
        assert_eq!(
            parse_response(cut.to_string().as_bytes(), &s, false),
            Err(JudgeError::Truncated)
        );
        let two =
            json!({"choices": [{"message": {"content": "{}"}}, {"message": {"content": "{}"}}]});
        assert!(parse_response(two.to_string().as_bytes(), &s, false).is_err());
        assert!(parse_response(b"<html>502</html>", &s, false).is_err());
    }

    #[test]
    fn errors_never_quote_the_answer() {
        let e = parse_response(
            &body(r#"{"choice":"D","score":"sk-live-secret","reason":"x"}"#),
            &sample(),
            false,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("sk-live"), "{e}");
    }

    #[test]
    fn logprobs_give_a_graded_score() {
        let b = json!({"choices": [{"message": {"content": r#"{"choice":"D","score":80,"reason":"x"}"#},
        "finish_reason": "stop",
        "logprobs": {"content": [
            {"token": "{\"", "logprob": 0.0, "top_logprobs": []},
            {"token": "choice", "logprob": 0.0, "top_logprobs": []},
            {"token": "\":\"", "logprob": 0.0, "top_logprobs": []},
            {"token": "D", "logprob": -0.2231, "top_logprobs": [
                {"token": "D", "logprob": -0.2231}, {"token": "K", "logprob": -1.6094}, {"token": "X", "logprob": -5.0}]}
        ]}}]});
        let a = parse_response(b.to_string().as_bytes(), &sample(), true).unwrap();
        assert_eq!(a.source, ScoreSource::Logprobs);
        assert!((a.score - 80.0).abs() < 0.1, "{}", a.score);
        // Without logprobs in the response, the stated score is used.
        let a = parse_response(
            &body(r#"{"choice":"D","score":80,"reason":"x"}"#),
            &sample(),
            true,
        )
        .unwrap();
        assert_eq!(a.source, ScoreSource::Stated);
    }

    #[test]
    fn logprobs_against_the_choice_or_far_from_it_are_not_a_score() {
        let tokens = |at_choice: serde_json::Value, rest: Vec<serde_json::Value>| {
            let mut content = vec![
                json!({"token": "{\"", "logprob": 0.0, "top_logprobs": []}),
                json!({"token": "choice", "logprob": 0.0, "top_logprobs": []}),
                at_choice,
            ];
            content.extend(rest);
            json!({"choices": [{"message": {"content": r#"{"choice":"D","score":80,"reason":"x D"}"#},
            "finish_reason": "stop", "logprobs": {"content": content}}]})
            .to_string()
        };
        // "D" chosen, but the odds at that token favour "K": a contradiction, not an allow.
        let against = tokens(
            json!({"token": "D", "logprob": -1.6, "top_logprobs": [
                {"token": "D", "logprob": -1.6}, {"token": "K", "logprob": -0.22}]}),
            vec![],
        );
        let e = parse_response(against.as_bytes(), &sample(), true).unwrap_err();
        assert!(matches!(e, JudgeError::Contradiction), "{e:?}");
        // The choice merged into another token; a lone "D" much later (in the reason) is not
        // the choice: the stated score is used.
        let far = tokens(
            json!({"token": "\":\"D", "logprob": 0.0, "top_logprobs": []}),
            (0..6)
                .map(|_| json!({"token": "x", "logprob": 0.0, "top_logprobs": []}))
                .chain([json!({"token": "D", "logprob": -3.0, "top_logprobs": [
                    {"token": "D", "logprob": -3.0}, {"token": "K", "logprob": -0.05}]})])
                .collect(),
        );
        let a = parse_response(far.as_bytes(), &sample(), true).unwrap();
        assert_eq!(a.source, ScoreSource::Stated);
        assert!((a.score - 80.0).abs() < 1e-9);
    }
}
