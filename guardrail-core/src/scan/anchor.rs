//! The keyword prefilter: every keyword is found through one of its bytes (its *anchor*) and
//! the bytes around it.
//!
//! A table marks the anchor bytes of all keywords and the assignment operators. The scan reads
//! the text 64 bytes at a time and only looks closer at marked bytes. A keyword is filed under
//! three of its bytes that include its anchor: the anchor and the two after it, the bytes on
//! either side of it, or the two before it (a keyword of two bytes under the pair alone, of
//! one byte under the byte). At a marked byte, two table loads (the anchor with the byte
//! after it, and with the byte before it) give the filings whose filed pairs are there, most
//! often none; a hashed-triple bit for each that is left decides whether any keyword can be
//! there; only then are the keywords of that pair compared, eight bytes at a time. Prose and
//! tool output, where marked bytes are common but their neighbourhoods rarely fit a keyword,
//! stream through at table-lookup speed; a large automaton over hundreds of case-insensitive
//! keywords would cost a dependent memory load per byte.
//!
//! Anchors are chosen from estimated byte frequencies: each marked byte costs the scan its
//! frequency, each keyword the estimated frequency of its filed bytes. A lowercase letter
//! anchors a keyword only when it is rare or the keyword has nothing else, and a letter of a
//! case-insensitive keyword never does.

/// The byte is the anchor of at least one keyword.
pub(crate) const ANCHOR: u8 = 1;
/// The byte may start an assignment operator (`=`, `:`, `>`, `,`).
pub(crate) const OPERATOR: u8 = 2;

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

/// How a keyword is filed, by the position of its anchor among the filed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filing {
    /// The anchor and the two bytes after it.
    Next,
    /// The bytes before and after the anchor.
    Mid,
    /// The two bytes before the anchor and the anchor.
    Prev,
    /// A two-byte keyword: the anchor and the byte after it.
    Next2,
    /// A two-byte keyword: the byte before the anchor and the anchor.
    Prev2,
    /// A one-byte keyword.
    Single,
}

const FILINGS: [Filing; 5] = [
    Filing::Next,
    Filing::Mid,
    Filing::Prev,
    Filing::Next2,
    Filing::Prev2,
];

impl Filing {
    /// The bit in the byte marks that says some keyword anchored on the byte is filed so.
    fn mark(self) -> u8 {
        match self {
            Filing::Next => 1 << 2,
            Filing::Mid => 1 << 3,
            Filing::Prev => 1 << 4,
            Filing::Next2 => 1 << 5,
            Filing::Prev2 => 1 << 6,
            Filing::Single => 1 << 7,
        }
    }

    /// Which pair table the keyword's entry sits in, and whether that pair takes the byte
    /// after the anchor (else the one before).
    fn table(self) -> (usize, bool) {
        match self {
            Filing::Next => (0, true),
            Filing::Mid => (1, true),
            Filing::Prev => (2, false),
            Filing::Next2 => (3, true),
            Filing::Prev2 | Filing::Single => (4, false),
        }
    }

    /// Offset from the anchor of the first of the three hashed bytes (`None`: no triple).
    fn triple_from(self) -> Option<usize> {
        match self {
            Filing::Next => Some(0),
            Filing::Mid => Some(1),
            Filing::Prev => Some(2),
            _ => None,
        }
    }
}

const PAIR_TABLES: usize = 5;
const PAIR_WORDS: usize = (PAIR_TABLES << 16) / 64;
const TRIPLE_BITS: usize = 1 << 16;
const TRIPLE_WORDS: usize = TRIPLE_BITS / 64;
/// Entries of a table indexed by an anchor byte and one neighbour.
const NEIGHBOURS: usize = 1 << 16;
/// What testing a filed neighbourhood that matches costs relative to testing a marked byte.
const FILED_WEIGHT: u64 = 4;
/// Lowercase letters rarer than this (per 100 000 bytes) may anchor a keyword that has other
/// bytes.
const RARE_LOWERCASE: u32 = 256;
/// Share (per 100 000) of triples that pass the hashed table by collision.
const TRIPLE_COLLISIONS: u64 = 1_000;

#[derive(Debug)]
pub(crate) struct Anchors {
    pub(crate) marks: [u8; 256],
    /// 1 where `marks` is not 0.
    pub(crate) marked: [u8; 256],
    /// Bit per filed pair, per table, both cases of a letter neighbour included.
    pairs: Box<[u64; PAIR_WORDS]>,
    /// Hashed filed triples (letters folded to lowercase).
    triples: Box<[u64; TRIPLE_WORDS]>,
    /// By anchor byte and the byte after it: the filings whose filed pair with the next
    /// byte is there (both cases of a letter), plus the filings that do not look at it.
    after: Box<[u8; NEIGHBOURS]>,
    /// The same by the byte before the anchor (for `Mid`, the byte before it in some `Mid`
    /// keyword).
    before: Box<[u8; NEIGHBOURS]>,
    /// Set pairs before each word of `pairs`: the rank of a set pair indexes `starts`.
    rank: Box<[u32; PAIR_WORDS]>,
    /// The entries of the pair of rank `r` are `entries[starts[r]..starts[r + 1]]`.
    starts: Vec<u32>,
    entries: Vec<Entry>,
    /// One-byte keywords and their bytes.
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

/// The triple hash of three consecutive bytes, letters folded (`| 0x20`).
#[inline(always)]
fn triple(x: u8, y: u8, z: u8) -> usize {
    let v = (u32::from(x | 0x20) << 16) | (u32::from(y | 0x20) << 8) | u32::from(z | 0x20);
    (v.wrapping_mul(0x9E37_79B1) >> 16) as usize
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

/// Marks `filing` in a neighbour table (`after` or `before`) for `anchor` next to either
/// case of `neighbour`.
fn mark_neighbour(side: &mut [u8], anchor: u8, neighbour: u8, filing: Filing) {
    for c in both_cases(neighbour) {
        if let Some(m) = side.get_mut(neighbour_index(anchor, c)) {
            *m |= filing.mark();
        }
    }
}

/// Index of an anchor byte and one neighbour in `after` or `before`.
#[inline(always)]
fn neighbour_index(anchor: u8, neighbour: u8) -> usize {
    (usize::from(anchor) << 8) | usize::from(neighbour)
}

/// Index of a pair in `pairs`.
#[inline(always)]
fn pair_index(table: usize, anchor: u8, neighbour: u8) -> usize {
    (table << 16) | (usize::from(anchor) << 8) | usize::from(neighbour)
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
        let mut singles = Vec::new();
        // Every byte passes the filings that do not look at that side.
        let mut after_side = Box::new([Filing::Prev.mark() | Filing::Prev2.mark(); NEIGHBOURS]);
        let mut before = Box::new([Filing::Next.mark() | Filing::Next2.mark(); NEIGHBOURS]);
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
            if let Some(m) = marks.get_mut(usize::from(b)) {
                *m |= ANCHOR | filing.mark();
            }
            let o = usize::from(offset);
            if filing == Filing::Single {
                singles.push((b, keyword));
                continue;
            }
            if let Some(back) = filing.triple_from() {
                let bytes = o
                    .checked_sub(back)
                    .and_then(|s| kw.bytes.get(s..s + 3))
                    .ok_or(ki)?;
                if let [x, y, z] = *bytes {
                    set(triples.as_mut_slice(), triple(x, y, z));
                }
            }
            let (table, after) = filing.table();
            let neighbour = if after {
                kw.bytes.get(o + 1)
            } else {
                o.checked_sub(1).and_then(|i| kw.bytes.get(i))
            };
            let &neighbour = neighbour.ok_or(ki)?;
            let side: &mut [u8] = if after {
                after_side.as_mut_slice()
            } else {
                before.as_mut_slice()
            };
            mark_neighbour(side, b, neighbour, filing);
            if filing == Filing::Mid {
                let &prev = o.checked_sub(1).and_then(|i| kw.bytes.get(i)).ok_or(ki)?;
                mark_neighbour(before.as_mut_slice(), b, prev, filing);
            }
            let (mask, value) = mask_value(kw);
            let entry = Entry {
                keyword,
                offset,
                mask,
                value,
            };
            for c in both_cases(neighbour) {
                by_pair
                    .entry(pair_index(table, b, c))
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
            after: after_side,
            before,
            rank,
            starts,
            entries,
            singles,
            keywords,
        })
    }

    /// Whether a keyword may be anchored at `p`, whose byte is marked `mark`: a filed
    /// neighbourhood is there, or a one-byte keyword.
    #[inline(always)]
    pub(crate) fn maybe(&self, t: &[u8], p: usize, mark: u8) -> bool {
        if mark & Filing::Single.mark() != 0 {
            return true;
        }
        let Some(&[a2, a1, b, c1, c2]) = p.checked_sub(2).and_then(|s| t.get(s..p + 3)) else {
            return self.maybe_edge(t, p, mark);
        };
        let filings = mark
            & self.after.get(neighbour_index(b, c1)).copied().unwrap_or(0)
            & self
                .before
                .get(neighbour_index(b, a1))
                .copied()
                .unwrap_or(0);
        if filings == 0 {
            return false;
        }
        let triples = self.triples.as_slice();
        filings & (Filing::Next2.mark() | Filing::Prev2.mark()) != 0
            || (filings & Filing::Next.mark() != 0 && test(triples, triple(b, c1, c2)))
            || (filings & Filing::Mid.mark() != 0 && test(triples, triple(a1, b, c1)))
            || (filings & Filing::Prev.mark() != 0 && test(triples, triple(a2, a1, b)))
    }

    /// [`maybe`](Self::maybe) within two bytes of either end of the text.
    #[inline(never)]
    fn maybe_edge(&self, t: &[u8], p: usize, mark: u8) -> bool {
        FILINGS
            .iter()
            .any(|&f| mark & f.mark() != 0 && self.filed_rank(t, p, f).is_some())
    }

    /// The rank of the pair at `p` under `filing`, when its triple (if any) and pair are
    /// filed.
    #[inline]
    fn filed_rank(&self, t: &[u8], p: usize, filing: Filing) -> Option<usize> {
        let &b = t.get(p)?;
        if let Some(back) = filing.triple_from() {
            let s = p.checked_sub(back)?;
            let &[x, y, z] = t.get(s..s + 3)? else {
                return None;
            };
            if !test(self.triples.as_slice(), triple(x, y, z)) {
                return None;
            }
        }
        let (table, after) = filing.table();
        let &n = if after {
            t.get(p + 1)?
        } else {
            t.get(p.checked_sub(1)?)?
        };
        let pair = pair_index(table, b, n);
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
        let mark = self.marks.get(usize::from(b)).copied().unwrap_or(0);
        for f in FILINGS {
            if mark & f.mark() != 0
                && let Some(r) = self.filed_rank(t, p, f)
            {
                self.compare(t, p, r, hit);
            }
        }
        if mark & Filing::Single.mark() != 0 {
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

/// Estimated frequency (per 100 000 bytes) of a byte in either case.
fn either_case(b: u8) -> u64 {
    both_cases(b).map(|c| u64::from(commonness(c, false))).sum()
}

/// One way to anchor a keyword: its position, filing, byte, and the weighted estimated
/// frequency of the neighbourhood a scan then finds filed.
#[derive(Debug, Clone, Copy)]
struct Way {
    pos: usize,
    filing: Filing,
    byte: u8,
    filed_cost: u64,
}

/// The ways to anchor `kw`. A lowercase letter anchors a keyword only when it is rare or the
/// keyword has nothing else (prose is made of lowercase letters); a letter of a
/// case-insensitive keyword never does.
fn ways(kw: &Keyword) -> Vec<Way> {
    let bytes = &kw.bytes;
    let len = bytes.len();
    let at = |i: usize| -> Vec<Way> {
        let Some(&b) = bytes.get(i) else {
            return Vec::new();
        };
        let own = commonness(b, kw.ignore_case);
        if own == u32::MAX {
            return Vec::new();
        }
        let own = u64::from(own);
        let byte = |j: usize| bytes.get(j).copied().map_or(0, either_case);
        // Filed bytes other than the anchor, nearest first; the second counts only above
        // the rate at which triples collide in the hashed table.
        let cost = |near: u64, far: Option<u64>| {
            let pair = own * near / 100_000;
            match far {
                Some(f) => pair * (f + TRIPLE_COLLISIONS) / 100_000,
                None => pair,
            }
        };
        let mut out = Vec::new();
        if i + 2 < len {
            out.push((cost(byte(i + 1), Some(byte(i + 2))), Filing::Next));
        }
        if i >= 1 && i + 1 < len {
            out.push((cost(byte(i + 1), Some(byte(i - 1))), Filing::Mid));
        }
        if i >= 2 {
            out.push((cost(byte(i - 1), Some(byte(i - 2))), Filing::Prev));
        }
        if len == 2 {
            let filing = if i == 0 { Filing::Next2 } else { Filing::Prev2 };
            out.push((cost(byte(1 - i), None), filing));
        }
        if len == 1 {
            out.push((own, Filing::Single));
        }
        out.into_iter()
            .map(|(c, filing)| Way {
                pos: i,
                filing,
                byte: b,
                filed_cost: FILED_WEIGHT * c,
            })
            .collect()
    };
    let rare = |i: usize| {
        bytes
            .get(i)
            .is_some_and(|&b| !b.is_ascii_lowercase() || commonness(b, false) < RARE_LOWERCASE)
    };
    let positions = 0..len.min(255);
    let preferred: Vec<Way> = positions
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
/// weighted frequency of its filed neighbourhood. Each keyword first takes its cheapest way;
/// then, most frequent first, an anchor byte is given up when its keywords can move to other
/// marked bytes for less than the byte costs. Returns the index of a keyword that no byte
/// can anchor as the error.
fn choose(keywords: &[Keyword], operators: &[u8]) -> Result<Vec<(usize, Filing)>, usize> {
    let all: Vec<Vec<Way>> = keywords.iter().map(ways).collect();
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
    let mut chosen: Vec<Way> = Vec::with_capacity(keywords.len());
    for (ki, ways) in all.iter().enumerate() {
        let best = ways
            .iter()
            .min_by_key(|w| (byte_cost(w.byte, &marked) + w.filed_cost, w.pos))
            .copied()
            .ok_or(ki)?;
        if let Some(m) = marked.get_mut(usize::from(best.byte)) {
            *m = true;
        }
        chosen.push(best);
    }
    for _ in 0..16 {
        let mut used: Vec<u8> = chosen.iter().map(|w| w.byte).collect();
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
                let alt = all.get(ki).into_iter().flatten().filter(|w| {
                    w.byte != b && marked.get(usize::from(w.byte)).copied().unwrap_or(false)
                });
                match alt.min_by_key(|w| (w.filed_cost, w.pos)) {
                    Some(w) => {
                        extra += w.filed_cost.saturating_sub(cur.filed_cost);
                        moves.push((ki, *w));
                    }
                    None => {
                        extra = u64::MAX;
                        break;
                    }
                }
            }
            if extra < u64::from(commonness(b, false)) {
                for (ki, w) in moves {
                    if let Some(c) = chosen.get_mut(ki) {
                        *c = w;
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
    Ok(chosen.into_iter().map(|w| (w.pos, w.filing)).collect())
}
