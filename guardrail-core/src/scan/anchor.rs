//! The keyword prefilter: every keyword is found through its rarest byte (its *anchor*).
//!
//! A table marks the anchor bytes of all keywords and the assignment operators. The scan reads
//! the text 16 bytes at a time and only looks closer at blocks holding a marked byte; at a
//! marked byte it consults the keywords anchored on that byte whose next byte matches the
//! text's next byte, and compares those in full. Prose, where few blocks hold a marked byte,
//! streams through at table-lookup speed; a large automaton over hundreds of case-insensitive
//! keywords would cost a dependent memory load per byte.

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

#[derive(Debug, Clone, Copy)]
struct Entry {
    keyword: u32,
    offset: u8,
}

/// Keywords anchored on one byte, grouped by the (lowercased) byte after the anchor (groups
/// 0..256); keywords that end at their anchor by the byte before it (groups 256..512); one-byte
/// keywords in group 512.
#[derive(Debug, Default)]
struct Bucket {
    starts: Vec<u32>,
    entries: Vec<Entry>,
    /// Bit per group that has entries (groups 0..512), plus bit 512 for one-byte keywords.
    present: [u64; 9],
}

impl Bucket {
    #[inline]
    fn has(&self, group: usize) -> bool {
        self.present
            .get(group / 64)
            .is_some_and(|w| w & (1u64 << (group % 64)) != 0)
    }
}

#[derive(Debug)]
pub(crate) struct Anchors {
    pub(crate) marks: [u8; 256],
    slot: [u16; 256],
    buckets: Vec<Bucket>,
    pub(crate) keywords: Vec<Keyword>,
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
fn commonness(b: u8, ignore_case: bool) -> u32 {
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
        // Candidate anchor bytes: never a letter of a case-insensitive keyword, and no
        // lowercase letter when the keyword has any other byte (prose is made of those).
        let candidates: Vec<Vec<usize>> = keywords
            .iter()
            .map(|kw| {
                let eligible = |b: u8| commonness(b, kw.ignore_case) != u32::MAX;
                let strict: Vec<usize> = kw
                    .bytes
                    .iter()
                    .enumerate()
                    .take(255)
                    .filter(|(_, b)| eligible(**b) && !b.is_ascii_lowercase())
                    .map(|(i, _)| i)
                    .collect();
                if strict.is_empty() {
                    kw.bytes
                        .iter()
                        .enumerate()
                        .take(255)
                        .filter(|(_, b)| eligible(**b))
                        .map(|(i, _)| i)
                        .collect()
                } else {
                    strict
                }
            })
            .collect();
        let byte_at = |ki: usize, i: usize| {
            keywords
                .get(ki)
                .and_then(|k| k.bytes.get(i))
                .copied()
                .unwrap_or(0)
        };
        let cost = |ki: usize, i: usize| commonness(byte_at(ki, i), false);
        let mut choice: Vec<usize> = Vec::with_capacity(keywords.len());
        for (ki, cands) in candidates.iter().enumerate() {
            let Some(&best) = cands.iter().min_by_key(|&&i| cost(ki, i)) else {
                return Err(ki);
            };
            choice.push(best);
        }
        // Share anchors: drop a chosen byte when every keyword using it can use another
        // chosen byte instead, most common bytes first.
        loop {
            let mut used: Vec<u8> = choice
                .iter()
                .enumerate()
                .map(|(ki, &i)| byte_at(ki, i))
                .collect();
            used.sort_unstable_by_key(|&b| std::cmp::Reverse(commonness(b, false)));
            used.dedup();
            let mut changed = false;
            for &b in &used {
                let in_use = |x: u8, choice: &[usize]| {
                    choice
                        .iter()
                        .enumerate()
                        .any(|(ki, &i)| byte_at(ki, i) == x)
                };
                let mut moves = Vec::new();
                let mut ok = true;
                for (ki, &i) in choice.iter().enumerate() {
                    if byte_at(ki, i) != b {
                        continue;
                    }
                    let alt = candidates
                        .get(ki)
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|&j| {
                            let x = byte_at(ki, j);
                            x != b && in_use(x, &choice)
                        });
                    match alt.min_by_key(|&j| cost(ki, j)) {
                        Some(j) => moves.push((ki, j)),
                        None => {
                            ok = false;
                            break;
                        }
                    }
                }
                if ok && !moves.is_empty() {
                    for (ki, j) in moves {
                        if let Some(c) = choice.get_mut(ki) {
                            *c = j;
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
        let mut per_byte: Vec<Vec<(usize, Entry)>> = (0..256).map(|_| Vec::new()).collect();
        for (ki, kw) in keywords.iter().enumerate() {
            let Some(&offset) = choice.get(ki) else {
                return Err(ki);
            };
            let Some(&b) = kw.bytes.get(offset) else {
                return Err(ki);
            };
            let (Ok(keyword), Ok(offset)) = (u32::try_from(ki), u8::try_from(offset)) else {
                return Err(ki);
            };
            let o = usize::from(offset);
            let group = match (
                kw.bytes.get(o + 1),
                o.checked_sub(1).and_then(|i| kw.bytes.get(i)),
            ) {
                (Some(n), _) => usize::from(n.to_ascii_lowercase()),
                (None, Some(p)) => 256 + usize::from(p.to_ascii_lowercase()),
                (None, None) => 512,
            };
            if let Some(list) = per_byte.get_mut(usize::from(b)) {
                list.push((group, Entry { keyword, offset }));
            }
            if let Some(m) = marks.get_mut(usize::from(b)) {
                *m |= ANCHOR;
            }
        }
        let mut slot = [u16::MAX; 256];
        let mut buckets = Vec::new();
        for (b, mut list) in per_byte.into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            list.sort_by_key(|(next, _)| *next);
            let mut starts = vec![0u32; 514];
            for (next, _) in &list {
                if let Some(s) = starts.get_mut(next + 1) {
                    *s += 1;
                }
            }
            for i in 1..starts.len() {
                let prev = starts.get(i - 1).copied().unwrap_or(0);
                if let Some(s) = starts.get_mut(i) {
                    *s += prev;
                }
            }
            let mut present = [0u64; 9];
            for (group, _) in &list {
                if let Some(w) = present.get_mut(group / 64) {
                    *w |= 1u64 << (group % 64);
                }
            }
            let entries = list.into_iter().map(|(_, e)| e).collect();
            if let (Some(s), Ok(idx)) = (slot.get_mut(b), u16::try_from(buckets.len())) {
                *s = idx;
            }
            buckets.push(Bucket {
                starts,
                entries,
                present,
            });
        }
        Ok(Anchors {
            marks,
            slot,
            buckets,
            keywords,
        })
    }

    /// Calls `hit(keyword, start)` for every keyword occurrence anchored at `p`.
    #[inline]
    pub(crate) fn at(&self, t: &[u8], p: usize, hit: &mut impl FnMut(&Keyword, usize)) {
        let Some(b) = t.get(p) else { return };
        let Some(&slot) = self.slot.get(usize::from(*b)) else {
            return;
        };
        let Some(bucket) = self.buckets.get(usize::from(slot)) else {
            return;
        };
        let next = t
            .get(p + 1)
            .map_or(usize::MAX, |n| usize::from(n.to_ascii_lowercase()));
        let prev = p
            .checked_sub(1)
            .and_then(|i| t.get(i))
            .map_or(usize::MAX, |n| 256 + usize::from(n.to_ascii_lowercase()));
        for group in [next, prev, 512] {
            if !bucket.has(group) {
                continue;
            }
            let (Some(&s), Some(&e)) = (
                bucket.starts.get(group),
                bucket.starts.get(group.saturating_add(1)),
            ) else {
                continue;
            };
            for entry in bucket.entries.get(s as usize..e as usize).unwrap_or(&[]) {
                let Some(start) = p.checked_sub(usize::from(entry.offset)) else {
                    continue;
                };
                let Some(kw) = self.keywords.get(entry.keyword as usize) else {
                    continue;
                };
                let Some(seen) = t.get(start..start + kw.bytes.len()) else {
                    continue;
                };
                if seen.first().map(u8::to_ascii_lowercase)
                    != kw.bytes.first().map(u8::to_ascii_lowercase)
                {
                    continue;
                }
                let same = if kw.ignore_case {
                    seen.eq_ignore_ascii_case(&kw.bytes)
                } else {
                    seen == kw.bytes
                };
                if same {
                    hit(kw, start);
                }
            }
        }
    }
}
