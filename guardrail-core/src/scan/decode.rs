//! Decoded views: base64 (standard and URL-safe), hex and percent-encoded runs of a text, with
//! a map from every decoded byte back to the encoded bytes it came from.

use serde::Serialize;

/// Most decoded views made for one input of up to 64 KiB (all depths together); a longer
/// input gets one view per KiB. Decodable text past the limit fails the scan closed.
pub const MAX_VIEWS: usize = 64;
/// Most decoded bytes made for one input (all views together).
pub const MAX_DECODED_BYTES: usize = 1 << 20;
/// Shortest encoded run that is decoded.
const MIN_B64_RUN: usize = 16;
const MIN_HEX_RUN: usize = 32;
const MIN_PERCENT_RUN: usize = 12;
/// Longest encoded run that is decoded; longer runs are decoded up to this length.
const MAX_RUN: usize = 64 * 1024;
/// Shortest decoded view worth scanning.
const MIN_DECODED: usize = 8;

/// The encoding a secret was found under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Base64, standard or URL-safe alphabet, padded or not.
    Base64,
    /// Hexadecimal digits, two per byte.
    Hex,
    /// `%XX` escapes.
    Percent,
}

impl Encoding {
    /// `base64`, `hex` or `percent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Hex => "hex",
            Encoding::Percent => "percent",
        }
    }
}

/// Work left for one input's decoded views, and where it ran out.
#[derive(Debug)]
pub(crate) struct Budget {
    views: usize,
    bytes: usize,
    exhausted_at: Option<usize>,
}

impl Budget {
    pub(crate) fn new(input_len: usize) -> Self {
        Budget {
            views: MAX_VIEWS.max(input_len / 1024),
            bytes: MAX_DECODED_BYTES,
            exhausted_at: None,
        }
    }

    /// The first offset of the original text from which a decodable run was not (wholly)
    /// decoded because a limit was reached: the view count, the decoded bytes or the longest
    /// run. What lies beyond it was not scanned in decoded form, so a caller fails closed there.
    pub(crate) fn exhausted_at(&self) -> Option<usize> {
        self.exhausted_at
    }

    fn exhaust(&mut self, at: usize) {
        self.exhausted_at = Some(self.exhausted_at.map_or(at, |e| e.min(at)));
    }
}

/// Offset `at` of `text` (a view's bytes when `parent` is set) in the original text.
pub(crate) fn origin(parent: Option<&View>, at: usize) -> usize {
    match parent {
        None => at,
        // A position past the view's end maps to its last byte's span.
        Some(p) => {
            let i = at.min(p.bytes.len().saturating_sub(1));
            p.map_span(i, i + 1).map_or(0, |m| m.0)
        }
    }
}

/// A decoded run: its bytes and, for each, the span of encoded bytes in the original text.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
    pub(crate) encoding: Encoding,
}

impl View {
    /// The original-text span of decoded bytes `start..end`.
    pub(crate) fn map_span(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        let first = self.spans.get(start)?;
        let last = self.spans.get(end.checked_sub(1)?)?;
        Some((first.0, last.1))
    }
}

const B64: u8 = 1;
const HEX: u8 = 2;
const URL: u8 = 4;
/// What [`plausible_b64`] looks for: a lowercase letter, an uppercase letter, a digit (or
/// `+`, `/`).
const LOWER: u8 = 8;
const UPPER: u8 = 16;
const DIGIT: u8 = 32;
const PERCENT: u8 = 64;

#[expect(clippy::indexing_slicing, reason = "const table build; i < 256")]
const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'-' || b == b'_' {
            c |= B64;
        }
        if b.is_ascii_hexdigit() {
            c |= HEX;
        }
        if b > b' ' && b < 0x7f && b != b'"' && b != b'\'' && b != b'<' && b != b'>' && b != b'`' {
            c |= URL;
        }
        if b.is_ascii_lowercase() {
            c |= LOWER;
        }
        if b.is_ascii_uppercase() {
            c |= UPPER;
        }
        if b.is_ascii_digit() || b == b'+' || b == b'/' {
            c |= DIGIT;
        }
        if b == b'%' {
            c |= PERCENT;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = class_table();

fn class(b: u8) -> u8 {
    CLASS.get(usize::from(b)).copied().unwrap_or(0)
}

/// Whether [`views`] can find anything in `text`: a `%`, a run of hex digits long enough to
/// decode, or a base64 run long enough to decode while the text has a lowercase and an
/// uppercase letter and a digit somewhere (a plausible base64 run needs all three). One
/// pass, no allocation: most arguments are settled here.
pub(crate) fn may_have_views(text: &[u8]) -> bool {
    let mut summary = Summary::default();
    for &b in text {
        summary.add(class(b));
    }
    summary.may_have_views(text)
}

/// Width of a lane of [`view_lanes`]: each counts up to 511 bytes.
pub(crate) const LANE_BITS: u32 = 9;
/// The classes [`view_lanes`] counts, lane by lane.
const LANE_CLASSES: [u8; 5] = [LOWER, UPPER, DIGIT, PERCENT, HEX];
/// Lanes of [`view_lanes`] in use (higher lanes are free for the caller).
pub(crate) const VIEW_LANES: u32 = 5;

/// The classes of `b` that [`may_have_views`] needs, as one count per lane: summing this over
/// a text (of at most 511 bytes) counts each class with one addition per byte.
pub(crate) fn view_lanes(b: u8) -> u64 {
    let c = class(b);
    LANE_CLASSES
        .iter()
        .enumerate()
        .filter(|&(_, &k)| c & k != 0)
        .map(|(i, _)| 1u64 << (LANE_BITS * i as u32))
        .sum()
}

/// [`may_have_views`] for a `text` (at most 511 bytes) whose bytes' [`view_lanes`] sum to
/// `lanes`: decided from the counts, with a pass over `text` only when they cannot settle it.
pub(crate) fn may_have_views_given(text: &[u8], lanes: u64) -> bool {
    let lane = |i: usize| (lanes >> (LANE_BITS * i as u32)) & ((1 << LANE_BITS) - 1);
    let mut summary = Summary::default();
    for (i, &k) in LANE_CLASSES.iter().enumerate() {
        if lane(i) != 0 {
            summary.any |= k;
        }
    }
    summary.hex = lane(4) as usize;
    summary.may_have_views(text)
}

/// The decoding classes of a byte (seven bits), for [`Summary::add`].
pub(crate) fn view_class(b: u8) -> u8 {
    class(b)
}

/// What one pass over a text learns for [`may_have_views`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Summary {
    any: u8,
    hex: usize,
}

impl Summary {
    /// Adds a byte of [`view_class`] `c` (higher bits are ignored).
    #[inline(always)]
    pub(crate) fn add(&mut self, c: u8) {
        self.any |= c;
        self.hex += usize::from((c & HEX) >> 1);
    }

    /// [`may_have_views`] of the `text` summarized.
    pub(crate) fn may_have_views(&self, text: &[u8]) -> bool {
        if text.len() < MIN_B64_RUN.min(MIN_PERCENT_RUN) {
            return false;
        }
        if self.any & PERCENT != 0 {
            return true;
        }
        let mixed = self.any & (LOWER | UPPER | DIGIT) == LOWER | UPPER | DIGIT;
        if !mixed && self.hex < MIN_HEX_RUN {
            return false;
        }
        // A second pass, for the few texts that may hold a long enough run.
        let (mut run, mut hex_run) = (0usize, 0usize);
        for &b in text {
            let c = class(b);
            run = if c & B64 != 0 { run + 1 } else { 0 };
            hex_run = if c & HEX != 0 { hex_run + 1 } else { 0 };
            if (mixed && run >= MIN_B64_RUN) || hex_run >= MIN_HEX_RUN {
                return true;
            }
        }
        false
    }
}

/// Appends the decoded views of `text` to `out`. With `parent`, `text` is that view's bytes and
/// spans are mapped through it to the original text.
pub(crate) fn views(text: &[u8], parent: Option<&View>, budget: &mut Budget, out: &mut Vec<View>) {
    if text.len() < MIN_B64_RUN.min(MIN_PERCENT_RUN) {
        return;
    }
    if memchr::memchr(b'%', text).is_some() {
        percent_views(text, parent, budget, out);
    }
    let mut i = 0;
    while i < text.len() {
        // One pass over the run: where it ends, the classes it holds, those all its bytes
        // share.
        let start = i;
        let (mut any, mut all) = (0u8, u8::MAX);
        for &b in text.get(start..).unwrap_or(&[]) {
            let c = class(b);
            if c & B64 == 0 {
                break;
            }
            any |= c;
            all &= c;
            i += 1;
        }
        let end = i;
        if end == start {
            i += 1;
            continue;
        }
        if end - start < MIN_B64_RUN {
            continue;
        }
        let mut pad_end = end;
        while pad_end < text.len() && pad_end - end < 2 && text.get(pad_end) == Some(&b'=') {
            pad_end += 1;
        }
        let run = text.get(start..end).unwrap_or(&[]);
        let all_hex = all & HEX != 0;
        if all_hex && run.len() >= MIN_HEX_RUN {
            let before = out.len();
            push_hex(text, start, end, parent, budget, out);
            if out.len() == before {
                // One stray digit in front (`a` + hex) shifts every pair.
                push_hex(text, start + 1, end, parent, budget, out);
            }
        } else if any & (LOWER | UPPER | DIGIT) == LOWER | UPPER | DIGIT {
            let before = out.len();
            push_b64_run(text, start, end, parent, budget, out);
            if out.len() == before && run.iter().any(|b| matches!(b, b'-' | b'_')) {
                // A prefix or separators before the payload (`key_QUtJQ...`): try the pieces.
                let mut s = start;
                for (j, &b) in run.iter().enumerate() {
                    if matches!(b, b'-' | b'_') {
                        let e = start + j;
                        if e - s >= MIN_B64_RUN && plausible_b64(text.get(s..e).unwrap_or(&[])) {
                            push_b64(text, s, e, parent, budget, out);
                        }
                        s = e + 1;
                    }
                }
                if end - s >= MIN_B64_RUN && s > start {
                    push_b64(text, s, end, parent, budget, out);
                }
            }
            // Characters in front of the payload (`A` + base64) shift its 6-bit groups:
            // decoding from the next three offsets finds it.
            for k in 1..4 {
                if out.len() > before || end - start < MIN_B64_RUN + k {
                    break;
                }
                push_b64_run(text, start + k, end, parent, budget, out);
            }
        }
        i = pad_end.max(end);
        if budget.exhausted_at.is_some() {
            return;
        }
    }
}

/// Base64 of text has digits or symbols and mixed case; most words and paths do not.
fn plausible_b64(run: &[u8]) -> bool {
    let any = run.iter().fold(0u8, |a, &b| a | class(b));
    any & (LOWER | UPPER | DIGIT) == LOWER | UPPER | DIGIT
}

/// Whether `base64_lenient(run)` would pass [`printable`], decided while decoding, without
/// keeping the bytes, and giving up as soon as too many of them are not text.
fn decodes_printable(run: &[u8]) -> bool {
    let len = run.iter().take_while(|&&b| b64_value(b).is_some()).count() * 6 / 8;
    if len < MIN_DECODED {
        return false;
    }
    let mut bad = 0usize;
    for c in Base64Bytes::new(run) {
        if !is_text_byte(c) {
            bad += 1;
            if bad * 10 > len {
                return false;
            }
        }
    }
    true
}

fn is_text_byte(c: u8) -> bool {
    (0x20..0x7f).contains(&c) || matches!(c, b'\t' | b'\r' | b'\n')
}

fn printable(b: &[u8]) -> bool {
    if b.len() < MIN_DECODED {
        return false;
    }
    let ok = b.iter().filter(|&&c| is_text_byte(c)).count();
    ok * 10 >= b.len() * 9
}

fn b64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Decodes base64 (either alphabet), stopping at the first byte outside the alphabet.
pub(crate) fn base64_lenient(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4 + 1);
    out.extend(Base64Bytes::new(s));
    out
}

/// The bytes `s` decodes to as base64 (either alphabet), up to its first byte outside the
/// alphabet; the one decoding loop behind [`base64_lenient`] and [`decodes_printable`].
struct Base64Bytes<'a> {
    input: std::slice::Iter<'a, u8>,
    acc: u32,
    bits: u32,
}

impl<'a> Base64Bytes<'a> {
    fn new(s: &'a [u8]) -> Self {
        Base64Bytes {
            input: s.iter(),
            acc: 0,
            bits: 0,
        }
    }
}

impl Iterator for Base64Bytes<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        loop {
            let Some(v) = b64_value(*self.input.next()?) else {
                // Decoding ends at the first byte outside the alphabet, for good.
                self.input = [].iter();
                return None;
            };
            self.acc = (self.acc << 6) | u32::from(v);
            self.bits += 6;
            if self.bits >= 8 {
                self.bits -= 8;
                let byte = (self.acc >> self.bits) as u8;
                self.acc &= (1 << self.bits) - 1;
                return Some(byte);
            }
        }
    }
}

fn push_view(
    bytes: Vec<u8>,
    mut spans: Vec<(usize, usize)>,
    encoding: Encoding,
    parent: Option<&View>,
    budget: &mut Budget,
    out: &mut Vec<View>,
) {
    if !printable(&bytes) {
        return;
    }
    if budget.views == 0 || bytes.len() > budget.bytes {
        budget.exhaust(spans.first().map_or(0, |s| origin(parent, s.0)));
        return;
    }
    if let Some(p) = parent {
        for s in &mut spans {
            match p.map_span(s.0, s.1) {
                Some(m) => *s = m,
                None => return,
            }
        }
    }
    budget.views -= 1;
    budget.bytes -= bytes.len();
    out.push(View {
        bytes,
        spans,
        encoding,
    });
}

fn push_b64(
    text: &[u8],
    start: usize,
    end: usize,
    parent: Option<&View>,
    budget: &mut Budget,
    out: &mut Vec<View>,
) {
    let run = text.get(start..end).unwrap_or(&[]);
    // Base64-looking runs in arguments are mostly paths and identifiers (`/` counts as a
    // base64 digit), whose decoding is binary noise: settle that without allocating.
    if !decodes_printable(run) {
        return;
    }
    let bytes = base64_lenient(run);
    let spans = (0..bytes.len())
        .map(|i| {
            let g = start + (i / 3) * 4;
            (g, (g + 4).min(end))
        })
        .collect();
    push_view(bytes, spans, Encoding::Base64, parent, budget, out);
}

/// [`push_b64`] of a whole run, decoded up to [`MAX_RUN`] bytes of it: when a view came of a
/// longer run, the rest of it was not decoded, and the budget records where that starts.
fn push_b64_run(
    text: &[u8],
    start: usize,
    end: usize,
    parent: Option<&View>,
    budget: &mut Budget,
    out: &mut Vec<View>,
) {
    let before = out.len();
    let cut = end.min(start + MAX_RUN);
    push_b64(text, start, cut, parent, budget, out);
    if out.len() > before && cut < end {
        budget.exhaust(origin(parent, cut));
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_hex(
    text: &[u8],
    start: usize,
    end: usize,
    parent: Option<&View>,
    budget: &mut Budget,
    out: &mut Vec<View>,
) {
    let cut = end > start + MAX_RUN;
    let end = end.min(start + MAX_RUN);
    let run = text.get(start..end).unwrap_or(&[]);
    let mut bytes = Vec::with_capacity(run.len() / 2);
    let mut spans = Vec::with_capacity(run.len() / 2);
    for (i, pair) in run.chunks_exact(2).enumerate() {
        let (Some(&h), Some(&l)) = (pair.first(), pair.get(1)) else {
            break;
        };
        let (Some(h), Some(l)) = (hex_value(h), hex_value(l)) else {
            break;
        };
        bytes.push(h << 4 | l);
        spans.push((start + 2 * i, start + 2 * i + 2));
    }
    let before = out.len();
    push_view(bytes, spans, Encoding::Hex, parent, budget, out);
    if cut && out.len() > before {
        budget.exhaust(origin(parent, end));
    }
}

fn percent_views(text: &[u8], parent: Option<&View>, budget: &mut Budget, out: &mut Vec<View>) {
    let mut i = 0;
    while let Some(rest) = text.get(i..) {
        let Some(skip) = rest.iter().position(|&b| class(b) & URL != 0) else {
            break;
        };
        let start = i + skip;
        let limit = text.get(start..).unwrap_or(&[]);
        let limit = limit.get(..MAX_RUN).unwrap_or(limit);
        i = start
            + limit
                .iter()
                .position(|&b| class(b) & URL == 0)
                .unwrap_or(limit.len());
        let run = text.get(start..i).unwrap_or(&[]);
        if run.len() < MIN_PERCENT_RUN || memchr::memchr(b'%', run).is_none() {
            continue;
        }
        let mut bytes = Vec::with_capacity(run.len());
        let mut spans = Vec::with_capacity(run.len());
        let mut escapes = 0;
        let mut j = 0;
        while j < run.len() {
            let b = run.get(j).copied().unwrap_or(0);
            if b == b'%' {
                let h = run.get(j + 1).copied().and_then(hex_value);
                let l = run.get(j + 2).copied().and_then(hex_value);
                if let (Some(h), Some(l)) = (h, l) {
                    bytes.push(h << 4 | l);
                    spans.push((start + j, start + j + 3));
                    escapes += 1;
                    j += 3;
                    continue;
                }
            }
            bytes.push(b);
            spans.push((start + j, start + j + 1));
            j += 1;
        }
        if escapes > 0 {
            push_view(bytes, spans, Encoding::Percent, parent, budget, out);
        }
        if budget.exhausted_at.is_some() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_early_printable_test_agrees_with_decoding() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_";
        let mut runs: Vec<Vec<u8>> = vec![
            b"/workspace/src/MyComponent".to_vec(),
            b"QUtJQVlONzdOS0tQUTdXV1BZQUs".to_vec(),
            b"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ".to_vec(),
            b"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ.tail".to_vec(),
        ];
        // Printable text with a growing share of binary bytes, around the 90% line.
        for noise in 0..8 {
            let mut raw: Vec<u8> = b"key=sk_live_0123456789abcdefghij".to_vec();
            for i in 0..noise {
                if let Some(b) = raw.get_mut(i * 3) {
                    *b = 0x01;
                }
            }
            runs.push(encode_b64(&raw));
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..600 {
            let mut run = Vec::new();
            for _ in 0..(len % 60) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                run.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            runs.push(run);
        }
        for run in &runs {
            assert_eq!(
                decodes_printable(run),
                printable(&base64_lenient(run)),
                "{}",
                String::from_utf8_lossy(run)
            );
        }
    }

    fn encode_b64(raw: &[u8]) -> Vec<u8> {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        for chunk in raw.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |a, &b| a << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
            for k in 0..=chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * k)) & 63) as usize]);
            }
        }
        out
    }

    #[test]
    fn base64_lenient_decodes_both_alphabets() {
        assert_eq!(base64_lenient(b"aGVsbG8gd29ybGQ="), b"hello world");
        assert_eq!(base64_lenient(b"-_-_"), base64_lenient(b"+/+/"));
    }

    #[test]
    fn precheck_is_sound() {
        // Where the precheck says no view can exist, `views` finds none: callers skip it then.
        let alphabets: [&[u8]; 4] = [
            b"abcdefABCDEF0123456789",
            b"QUtJQVlONzdOS0tQUTdXV1BZQUs=+/-_",
            b"abcxyz 019%/._-",
            b"0123456789abcdef xyz",
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000 {
            let alphabet = alphabets[round % alphabets.len()];
            let len = (next() % 96) as usize;
            let text: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if !may_have_views(&text) {
                let mut out = Vec::new();
                views(&text, None, &mut Budget::new(text.len()), &mut out);
                assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&text));
            }
        }
    }

    #[test]
    fn views_map_back() {
        let text = b"x=QUtJQVlONzdOS0tQUTdXV1BZQUs= y";
        let mut out = Vec::new();
        views(text, None, &mut Budget::new(text.len()), &mut out);
        assert_eq!(out.len(), 1);
        let v = &out[0];
        assert_eq!(v.bytes, b"AKIAYN77NKKPQ7WWPYAK");
        assert_eq!(v.map_span(0, v.bytes.len()), Some((2, 29)));
    }
}
