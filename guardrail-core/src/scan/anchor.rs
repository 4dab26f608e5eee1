//! The keyword prefilter: every keyword is found through one of its bytes (its *anchor*) and
//! the bytes around it.
//!
//! A table marks the anchor bytes of all keywords and the assignment operators. The scan reads
//! the text 16 bytes at a time and only looks closer at marked bytes. A keyword is filed under
//! its anchor and one neighbour (the pair *anchor, next byte* or *previous byte, anchor*), or,
//! when the anchor is inside the keyword, under both neighbours (a hashed triple backs the
//! pair). At a marked byte two pair bits and one triple bit decide whether any keyword can
//! start there; only then are the keywords of that pair compared, eight bytes at a time. Prose
//! and tool output, where marked bytes are common but their neighbourhoods rarely fit a
//! keyword, stream through at table-lookup speed; a large automaton over hundreds of
//! case-insensitive keywords would cost a dependent memory load per byte.
//!
//! Anchors are chosen from estimated byte and pair frequencies: a lowercase letter anchors a
//! keyword only when it is rare or the keyword has nothing else, and a letter of a
//! case-insensitive keyword never does.

/// The byte is the anchor of at least one keyword.
pub(crate) const ANCHOR: u8 = 1;
/// The byte may start an assignment operator (`=`, `:`, `>`, `,`).
pub(crate) const OPERATOR: u8 = 2;
/// Keywords anchored on the byte are filed under (anchor, next byte).
const FILED_NEXT: u8 = 4;
/// ... under (previous byte, anchor).
const FILED_PREV: u8 = 8;
/// ... under (previous byte, anchor, next byte).
const FILED_MID: u8 = 16;
/// The byte is a one-byte keyword.
const FILED_SINGLE: u8 = 32;

/// One keyword, as the prefilter sees it.
#[derive(Debug, Clone)]
pub(crate) struct Keyword {
    pub(crate) bytes: Vec<u8>,
    pub(crate) ignore_case: bool,
    pub(crate) rules: Vec<u32>,
}

/// A keyword filed under a pair, with its first eight bytes as a masked word (letters of a
/// case-insensitive keyword masked to compare either case).
#[derive(Debug, Clone, Copy)]
struct Entry {
    keyword: u32,
    offset: u8,
    mask: u64,
    value: u64,
}

/// The three pair tables, 1 << 16 bits each, indexed by `anchor << 8 | neighbour`.
const NEXT: usize = 0;
const PREV: usize = 1 << 16;
const MID: usize = 2 << 16;
const PAIR_WORDS: usize = (3 << 16) / 64;
const TRIPLE_BITS: usize = 1 << 16;
const TRIPLE_WORDS: usize = TRIPLE_BITS / 64;
/// What comparing a pair's keywords costs relative to testing a marked byte.
const PAIR_WEIGHT: u64 = 4;
/// Lowercase letters rarer than this (per 100 000 bytes) may anchor a keyword that has other
/// bytes.
const RARE_LOWERCASE: u32 = 256;

#[derive(Debug)]
pub(crate) struct Anchors {
    pub(crate) marks: [u8; 256],
    /// 1 where `marks` is not 0.
    pub(crate) marked: [u8; 256],
    /// Bit per pair some keyword is filed under, both cases of a letter neighbour included.
    pairs: Box<[u64; PAIR_WORDS]>,
    /// Hashed (previous byte, anchor, next byte) of the keywords filed under `MID` pairs.
    triples: Box<[u64; TRIPLE_WORDS]>,
    /// Set pairs before each word of `pairs`: the rank of a set pair indexes `starts`.
    rank: Box<[u32; PAIR_WORDS]>,
    /// The entries of the pair of rank `r` are `entries[starts[r]..starts[r + 1]]`.
    starts: Vec<u32>,
    entries: Vec<Entry>,
    /// Bytes that are a one-byte keyword, and those keywords.
    single: [bool; 256],
    singles: Vec<(u8, u32)>,
    pub(crate) keywords: Vec<Keyword>,
}

/// Reads up to eight bytes at `start` as a little-endian word (missing bytes are zero).
#[inline]
fn word_at(t: &[u8], start: usize) -> u64 {
    match t.get(start..start.saturating_add(8)) {
        Some(w) => <[u8; 8]>::try_from(w).map_or(0, u64::from_le_bytes),
        None => {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(t.get(start..).unwrap_or(&[])) {
                *d = *s;
            }
            u64::from_le_bytes(w)
        }
    }
}

fn mask_value(kw: &Keyword) -> (u64, u64) {
    let (mut mask, mut value) = (0u64, 0u64);
    for (i, &b) in kw.bytes.iter().take(8).enumerate() {
        let (m, v) = if kw.ignore_case && b.is_ascii_alphabetic() {
            (0xDFu64, u64::from(b.to_ascii_uppercase()))
        } else {
            (0xFF, u64::from(b))
        };
        mask |= m << (8 * i);
        value |= v << (8 * i);
    }
    (mask, value)
}

/// The triple hash: neighbours folded so that both cases of a letter hash alike.
#[inline(always)]
fn triple(prev: u8, anchor: u8, next: u8) -> usize {
    let folded = (u32::from(prev | 0x20) << 8) | u32::from(next | 0x20);
    let mixed = folded ^ (u32::from(anchor).wrapping_mul(0x9E37_79B1) >> 16);
    mixed as usize & (TRIPLE_BITS - 1)
}

#[inline(always)]
fn test(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64)
        .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
}

fn set(bits: &mut [u64], i: usize) {
    if let Some(w) = bits.get_mut(i / 64) {
        *w |= 1u64 << (i % 64);
    }
}

fn both_cases(b: u8) -> impl Iterator<Item = u8> {
    let (l, u) = (b.to_ascii_lowercase(), b.to_ascii_uppercase());
    std::iter::once(l).chain((u != l).then_some(u))
}

/// Where a keyword is filed.
#[derive(Debug, Clone, Copy)]
enum Filing {
    Next,
    Prev,
    Mid,
    Single,
}

/// Approximate frequency of each byte (per 100 000) in prose and tool output, the larger of
/// the two; bytes never seen count 5.
#[rustfmt::skip]
const FREQ: [u16; 256] = [
    5, 5, 5, 5, 5, 5, 5, 5, 5, 60000, 60000, 5, 5, 60000, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    60000, 32, 5821, 34, 5, 5, 71, 5, 99, 99, 5, 5, 1452, 2509, 1078, 657,
    1746, 2294, 2264, 1448, 1283, 1503, 1114, 1109, 1107, 1083, 2482, 65, 71, 308, 71, 71,
    71, 189, 78, 63, 56, 227, 116, 128, 53, 61, 7, 7, 39, 164, 141, 116,
    8, 5, 258, 78, 402, 57, 7, 127, 5, 31, 252, 5, 5, 5, 5, 756,
    5, 5391, 1559, 2323, 1917, 11127, 1609, 1454, 5732, 3517, 142, 877, 3371, 2446, 4414, 7178,
    833, 332, 4444, 4384, 7130, 2787, 790, 3283, 221, 1896, 53, 285, 5, 285, 5, 5,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
];

/// How common a byte is, for choosing anchors (`u32::MAX`: not eligible).
pub(crate) fn commonness(b: u8, ignore_case: bool) -> u32 {
    if ignore_case && b.is_ascii_alphabetic() {
        return u32::MAX;
    }
    u32::from(FREQ.get(usize::from(b)).copied().unwrap_or(60000))
}

impl Anchors {
    /// Builds the index; returns the keyword that cannot be anchored (a case-insensitive
    /// keyword made only of letters) as an error.
    pub(crate) fn new(keywords: Vec<Keyword>, operators: &[u8]) -> Result<Self, usize> {
        let mut marks = [0u8; 256];
        for &op in operators {
            if let Some(m) = marks.get_mut(usize::from(op)) {
                *m |= OPERATOR;
            }
        }
        let mut by_pair: std::collections::BTreeMap<usize, Vec<Entry>> = Default::default();
        let mut triples = Box::new([0u64; TRIPLE_WORDS]);
        let mut single = [false; 256];
        let mut singles = Vec::new();
        let choices = choose(&keywords, operators)?;
        for (ki, kw) in keywords.iter().enumerate() {
            let Some(&(offset, filing)) = choices.get(ki) else {
                return Err(ki);
            };
            let Some(&b) = kw.bytes.get(offset) else {
                return Err(ki);
            };
            let (Ok(keyword), Ok(offset)) = (u32::try_from(ki), u8::try_from(offset)) else {
                return Err(ki);
            };
            let filed = match filing {
                Filing::Next => FILED_NEXT,
                Filing::Prev => FILED_PREV,
                Filing::Mid => FILED_MID,
                Filing::Single => FILED_SINGLE,
            };
            if let Some(m) = marks.get_mut(usize::from(b)) {
                *m |= ANCHOR | filed;
            }
            let o = usize::from(offset);
            let hi = usize::from(b) << 8;
            let next = kw.bytes.get(o + 1).copied();
            let prev = o.checked_sub(1).and_then(|i| kw.bytes.get(i)).copied();
            let (table, neighbour) = match (filing, prev, next) {
                (Filing::Next, _, Some(n)) => (NEXT, n),
                (Filing::Prev, Some(p), _) => (PREV, p),
                (Filing::Mid, Some(p), Some(n)) => {
                    for pc in both_cases(p) {
                        for nc in both_cases(n) {
                            set(triples.as_mut_slice(), triple(pc, b, nc));
                        }
                    }
                    (MID, n)
                }
                _ => {
                    if let Some(s) = single.get_mut(usize::from(b)) {
                        *s = true;
                    }
                    singles.push((b, keyword));
                    continue;
                }
            };
            let (mask, value) = mask_value(kw);
            let entry = Entry {
                keyword,
                offset,
                mask,
                value,
            };
            for c in both_cases(neighbour) {
                by_pair
                    .entry(table | hi | usize::from(c))
                    .or_default()
                    .push(entry);
            }
        }
        let mut pairs = Box::new([0u64; PAIR_WORDS]);
        let mut starts = Vec::with_capacity(by_pair.len() + 1);
        let mut entries = Vec::new();
        for (&pair, list) in &by_pair {
            set(pairs.as_mut_slice(), pair);
            starts.push(u32::try_from(entries.len()).map_err(|_| 0usize)?);
            entries.extend_from_slice(list);
        }
        starts.push(u32::try_from(entries.len()).map_err(|_| 0usize)?);
        let mut rank = Box::new([0u32; PAIR_WORDS]);
        let mut total = 0u32;
        for (r, w) in rank.iter_mut().zip(pairs.iter()) {
            *r = total;
            total += w.count_ones();
        }
        let marked = marks.map(|m| u8::from(m != 0));
        Ok(Anchors {
            marks,
            marked,
            pairs,
            triples,
            rank,
            starts,
            entries,
            single,
            singles,
            keywords,
        })
    }

    /// Whether a keyword may be anchored at `p`, whose byte is marked `mark`: the pair or
    /// triple around it is filed, or a one-byte keyword is there.
    #[inline(always)]
    pub(crate) fn maybe(&self, t: &[u8], p: usize, mark: u8) -> bool {
        if mark & FILED_SINGLE != 0 {
            return true;
        }
        let Some(&[a, b, c]) = p.checked_sub(1).and_then(|s| t.get(s..p + 2)) else {
            return self.maybe_edge(t, p, mark);
        };
        let hi = usize::from(b) << 8;
        (mark & FILED_MID != 0
            && test(self.triples.as_slice(), triple(a, b, c))
            && test(self.pairs.as_slice(), MID | hi | usize::from(c)))
            || (mark & FILED_NEXT != 0 && test(self.pairs.as_slice(), NEXT | hi | usize::from(c)))
            || (mark & FILED_PREV != 0 && test(self.pairs.as_slice(), PREV | hi | usize::from(a)))
    }

    /// [`maybe`](Self::maybe) at the first or last byte of the text.
    #[inline(never)]
    fn maybe_edge(&self, t: &[u8], p: usize, mark: u8) -> bool {
        let Some(&b) = t.get(p) else { return false };
        let hi = usize::from(b) << 8;
        let prev = p.checked_sub(1).and_then(|i| t.get(i)).copied();
        let next = t.get(p + 1).copied();
        (mark & FILED_NEXT != 0
            && next.is_some_and(|c| test(self.pairs.as_slice(), NEXT | hi | usize::from(c))))
            || (mark & FILED_PREV != 0
                && prev.is_some_and(|a| test(self.pairs.as_slice(), PREV | hi | usize::from(a))))
    }

    /// Index into `starts` of a set pair.
    #[inline]
    fn rank_of(&self, pair: usize) -> Option<usize> {
        let w = *self.pairs.get(pair / 64)?;
        let m = 1u64 << (pair % 64);
        if w & m == 0 {
            return None;
        }
        let r = *self.rank.get(pair / 64)?;
        Some(r as usize + (w & (m - 1)).count_ones() as usize)
    }

    /// Calls `hit(keyword, start)` for every keyword occurrence anchored at `p`.
    #[inline]
    pub(crate) fn at(&self, t: &[u8], p: usize, hit: &mut impl FnMut(&Keyword, usize)) {
        let Some(&b) = t.get(p) else { return };
        let hi = usize::from(b) << 8;
        let prev = p.checked_sub(1).and_then(|i| t.get(i)).copied();
        let next = t.get(p + 1).copied();
        if let Some(c) = next
            && let Some(r) = self.rank_of(NEXT | hi | usize::from(c))
        {
            self.compare(t, p, r, hit);
        }
        if let Some(a) = prev
            && let Some(r) = self.rank_of(PREV | hi | usize::from(a))
        {
            self.compare(t, p, r, hit);
        }
        if let (Some(a), Some(c)) = (prev, next)
            && test(self.triples.as_slice(), triple(a, b, c))
            && let Some(r) = self.rank_of(MID | hi | usize::from(c))
        {
            self.compare(t, p, r, hit);
        }
        if self.single.get(usize::from(b)).copied().unwrap_or(false) {
            for &(sb, k) in &self.singles {
                if sb == b
                    && let Some(kw) = self.keywords.get(k as usize)
                {
                    hit(kw, p);
                }
            }
        }
    }

    /// Compares the keywords of the pair of rank `r` anchored at `p`.
    fn compare(&self, t: &[u8], p: usize, r: usize, hit: &mut impl FnMut(&Keyword, usize)) {
        let (Some(&s), Some(&e)) = (self.starts.get(r), self.starts.get(r + 1)) else {
            return;
        };
        for entry in self.entries.get(s as usize..e as usize).unwrap_or(&[]) {
            let Some(start) = p.checked_sub(usize::from(entry.offset)) else {
                continue;
            };
            if word_at(t, start) & entry.mask != entry.value {
                continue;
            }
            let Some(kw) = self.keywords.get(entry.keyword as usize) else {
                continue;
            };
            let Some(seen) = t.get(start..start + kw.bytes.len()) else {
                continue;
            };
            let (Some(seen_rest), Some(kw_rest)) = (seen.get(8..), kw.bytes.get(8..)) else {
                hit(kw, start);
                continue;
            };
            let same = if kw.ignore_case {
                seen_rest.eq_ignore_ascii_case(kw_rest)
            } else {
                seen_rest == kw_rest
            };
            if same {
                hit(kw, start);
            }
        }
    }
}

/// Estimated frequency (per 100 000 bytes) of `b` followed or preceded by `n` in either case.
fn pair_freq(b: u8, n: u8) -> u64 {
    let own = u64::from(commonness(b, false));
    let other: u64 = both_cases(n).map(|c| u64::from(commonness(c, false))).sum();
    own * other / 100_000
}

/// One way to anchor a keyword: its position, filing, byte, and the weighted estimated
/// frequency of the neighbourhood a scan then tests.
#[derive(Debug, Clone, Copy)]
struct Option_ {
    pos: usize,
    filing: Filing,
    byte: u8,
    pair_cost: u64,
}

/// The ways to anchor `kw`. A lowercase letter anchors a keyword only when it is rare or the
/// keyword has nothing else (prose is made of lowercase letters); a letter of a
/// case-insensitive keyword never does.
fn options(kw: &Keyword) -> Vec<Option_> {
    let bytes = &kw.bytes;
    let at = |i: usize| -> Vec<Option_> {
        let Some(&b) = bytes.get(i) else {
            return Vec::new();
        };
        let own = commonness(b, kw.ignore_case);
        if own == u32::MAX {
            return Vec::new();
        }
        let prev = i.checked_sub(1).and_then(|j| bytes.get(j)).copied();
        let next = bytes.get(i + 1).copied();
        let mut out = Vec::new();
        if let Some(n) = next {
            out.push((pair_freq(b, n), Filing::Next));
        }
        if let Some(p) = prev {
            out.push((pair_freq(b, p), Filing::Prev));
        }
        if let (Some(p), Some(n)) = (prev, next) {
            // The triple table is about 1% full: false hits bound what the triple saves.
            let p_freq: u64 = both_cases(p).map(|c| u64::from(commonness(c, false))).sum();
            out.push((pair_freq(b, n) * (p_freq + 1_000) / 100_000, Filing::Mid));
        }
        if prev.is_none() && next.is_none() {
            out.push((u64::from(own), Filing::Single));
        }
        out.into_iter()
            .map(|(pair, filing)| Option_ {
                pos: i,
                filing,
                byte: b,
                pair_cost: PAIR_WEIGHT * pair,
            })
            .collect()
    };
    let rare = |i: usize| {
        bytes
            .get(i)
            .is_some_and(|&b| !b.is_ascii_lowercase() || commonness(b, false) < RARE_LOWERCASE)
    };
    let positions = 0..bytes.len().min(255);
    let preferred: Vec<Option_> = positions
        .clone()
        .filter(|&i| rare(i))
        .flat_map(at)
        .collect();
    if preferred.is_empty() {
        positions.flat_map(at).collect()
    } else {
        preferred
    }
}

/// The anchor of every keyword (position and filing), chosen where a scan pays least: each
/// marked byte costs its frequency once (operators are marked anyway), each keyword the
/// weighted frequency of its neighbourhood. Each keyword first takes its cheapest option;
/// then, most frequent first, an anchor byte is given up when its keywords can move to other
/// marked bytes for less than the byte costs. Returns the index of a keyword that no byte
/// can anchor as the error.
fn choose(keywords: &[Keyword], operators: &[u8]) -> Result<Vec<(usize, Filing)>, usize> {
    let all: Vec<Vec<Option_>> = keywords.iter().map(options).collect();
    let byte_cost = |b: u8, marked: &[bool; 256]| {
        if marked.get(usize::from(b)).copied().unwrap_or(false) {
            0
        } else {
            u64::from(commonness(b, false))
        }
    };
    let mut marked = [false; 256];
    for &op in operators {
        if let Some(m) = marked.get_mut(usize::from(op)) {
            *m = true;
        }
    }
    let operator_marks = marked;
    let mut chosen: Vec<Option_> = Vec::with_capacity(keywords.len());
    for (ki, opts) in all.iter().enumerate() {
        let best = opts
            .iter()
            .min_by_key(|o| (byte_cost(o.byte, &marked) + o.pair_cost, o.pos))
            .copied()
            .ok_or(ki)?;
        if let Some(m) = marked.get_mut(usize::from(best.byte)) {
            *m = true;
        }
        chosen.push(best);
    }
    for _ in 0..16 {
        let mut used: Vec<u8> = chosen.iter().map(|o| o.byte).collect();
        used.sort_unstable_by_key(|&b| (std::cmp::Reverse(commonness(b, false)), b));
        used.dedup();
        let mut marked = operator_marks;
        for &b in &used {
            if let Some(m) = marked.get_mut(usize::from(b)) {
                *m = true;
            }
        }
        let mut changed = false;
        for &b in &used {
            if operator_marks.get(usize::from(b)).copied().unwrap_or(false) {
                continue;
            }
            let mut moves = Vec::new();
            let mut extra = 0u64;
            for (ki, cur) in chosen.iter().enumerate() {
                if cur.byte != b {
                    continue;
                }
                let alt = all.get(ki).into_iter().flatten().filter(|o| {
                    o.byte != b && marked.get(usize::from(o.byte)).copied().unwrap_or(false)
                });
                match alt.min_by_key(|o| (o.pair_cost, o.pos)) {
                    Some(o) => {
                        extra += o.pair_cost.saturating_sub(cur.pair_cost);
                        moves.push((ki, *o));
                    }
                    None => {
                        extra = u64::MAX;
                        break;
                    }
                }
            }
            if extra < u64::from(commonness(b, false)) {
                for (ki, o) in moves {
                    if let Some(c) = chosen.get_mut(ki) {
                        *c = o;
                    }
                }
                changed = true;
                break;
            }
        }
        if !changed {
            break;
        }
    }
    Ok(chosen.into_iter().map(|o| (o.pos, o.filing)).collect())
}
