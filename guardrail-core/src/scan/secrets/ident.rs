//! Keywords of assignment rules, found inside the identifier an assignment names.
//!
//! Identifier bytes get a 5-bit code (letters folded to one case, all digits one code); each
//! keyword is filed under the code of its rarest three bytes (by estimated letter
//! frequency). Rolling the code over an identifier tests a bit per position and compares
//! keywords only where a bucket is set, so an identifier that holds no keyword costs a few
//! instructions per byte.

/// Code of the trigram made of the last three identifier bytes: 15 bits.
const TRI_BITS: usize = 1 << 15;
const TRI_WORDS: usize = TRI_BITS / 64;

#[expect(clippy::indexing_slicing, reason = "const table build; i < 256")]
const fn ident_code_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_lowercase() {
            b - b'a' + 1
        } else if b.is_ascii_uppercase() {
            b - b'A' + 1
        } else if b.is_ascii_digit() {
            27
        } else if b == b'_' {
            28
        } else if b == b'-' {
            29
        } else if b == b'.' {
            30
        } else {
            0
        };
        i += 1;
    }
    t
}

/// Non-zero exactly for identifier bytes: ASCII letters and digits, `_`, `-`, `.`.
static IDENT_CODE: [u8; 256] = ident_code_table();

#[inline]
fn code(b: u8) -> u8 {
    IDENT_CODE.get(usize::from(b)).copied().unwrap_or(0)
}

/// An identifier byte: ASCII letter or digit, `_`, `-`, `.`.
#[inline]
pub(super) fn is_ident(b: u8) -> bool {
    code(b) != 0
}

/// The identifier keywords, bucketed by first trigram.
#[derive(Debug)]
pub(super) struct IdentIndex {
    filter: Box<[u64; TRI_WORDS]>,
    /// Set buckets before each word of `filter`: the rank of a set bucket indexes `starts`.
    rank: Box<[u32; TRI_WORDS]>,
    starts: Vec<u32>,
    /// Keyword ids and where their filed trigram starts in them.
    bucket_keywords: Vec<(u32, u8)>,
    /// Keywords shorter than three bytes, compared at every position.
    short: Vec<u32>,
    /// Lowercase keywords.
    keywords: Vec<Vec<u8>>,
    /// Length of the shortest keyword (at least 1).
    pub(super) min_len: usize,
}

impl IdentIndex {
    /// The lowercase keywords, by id.
    pub(super) fn keywords(&self) -> &[Vec<u8>] {
        &self.keywords
    }

    /// Indexes lowercase `keywords`. Keywords with a byte that cannot occur in an identifier
    /// are kept (their ids stay valid) but never match.
    pub(super) fn new(keywords: Vec<Vec<u8>>) -> Self {
        let mut by_code: std::collections::BTreeMap<usize, Vec<(u32, u8)>> = Default::default();
        let mut short = Vec::new();
        for (i, k) in keywords.iter().enumerate() {
            let Ok(id) = u32::try_from(i) else { continue };
            if k.is_empty() || !k.iter().all(|&b| is_ident(b)) {
                continue;
            }
            let rarest = k.windows(3).enumerate().take(256).min_by_key(|(_, w)| {
                w.iter()
                    .map(|&b| u64::from(super::anchor::commonness(b, false)))
                    .product::<u64>()
            });
            match rarest {
                Some((at, tri)) => {
                    let c = tri
                        .iter()
                        .fold(0usize, |h, &b| (h << 5) | usize::from(code(b)));
                    let at = u8::try_from(at).unwrap_or(u8::MAX);
                    by_code.entry(c).or_default().push((id, at));
                }
                None => short.push(id),
            }
        }
        let mut filter = Box::new([0u64; TRI_WORDS]);
        let mut starts = Vec::with_capacity(by_code.len() + 1);
        let mut bucket_keywords = Vec::new();
        for (&c, ids) in &by_code {
            if let Some(w) = filter.get_mut(c / 64) {
                *w |= 1u64 << (c % 64);
            }
            starts.push(u32::try_from(bucket_keywords.len()).unwrap_or(u32::MAX));
            bucket_keywords.extend_from_slice(ids);
        }
        starts.push(u32::try_from(bucket_keywords.len()).unwrap_or(u32::MAX));
        let mut rank = Box::new([0u32; TRI_WORDS]);
        let mut total = 0u32;
        for (r, w) in rank.iter_mut().zip(filter.iter()) {
            *r = total;
            total += w.count_ones();
        }
        let min_len = keywords.iter().map(Vec::len).min().unwrap_or(1).max(1);
        IdentIndex {
            filter,
            rank,
            starts,
            bucket_keywords,
            short,
            keywords,
            min_len,
        }
    }

    /// The start of the identifier that ends at `end` (at most `reach` bytes long), and
    /// whether it may hold a keyword: it has a letter and a keyword's first three bytes (or
    /// the index has keywords shorter than that).
    #[inline(always)]
    pub(super) fn span_back(&self, t: &[u8], end: usize, reach: usize) -> (usize, bool) {
        let floor = end.saturating_sub(reach);
        let window = t.get(floor..end).unwrap_or(&[]);
        let filter: &[u64; TRI_WORDS] = &self.filter;
        // Codes are below 32, so `h` stays below `TRI_BITS`; a trigram holding a zero code
        // (fewer than three bytes seen) is never filed.
        let (mut h, mut tri) = (0usize, 0u64);
        let mut start = floor;
        for (i, &b) in window.iter().enumerate().rev() {
            let c = usize::from(code(b) & 31);
            if c == 0 {
                start = floor + i + 1;
                break;
            }
            h = (h >> 5) | (c << 10);
            // The mask proves the index in bounds: no check is left in the loop.
            tri |= filter.get((h >> 6) & (TRI_WORDS - 1)).copied().unwrap_or(0) >> (h & 63);
        }
        let maybe = (tri & 1 != 0 || !self.short.is_empty())
            && t.get(start..end)
                .is_some_and(|s| s.iter().any(u8::is_ascii_alphabetic));
        (start, maybe)
    }

    /// Calls `f(keyword, start, end)` for every keyword occurrence in `ident` (ASCII case
    /// ignored), overlapping ones included.
    #[inline]
    pub(super) fn find(&self, ident: &[u8], f: &mut impl FnMut(u32, usize, usize)) {
        if !self.short.is_empty() {
            for s in 0..ident.len() {
                for &id in &self.short {
                    self.compare(id, ident, s, f);
                }
            }
        }
        let mut h = 0usize;
        for (i, &b) in ident.iter().enumerate() {
            h = ((h << 5) | usize::from(code(b))) & (TRI_BITS - 1);
            if i < 2 {
                continue;
            }
            let Some(&w) = self.filter.get(h / 64) else {
                continue;
            };
            let m = 1u64 << (h % 64);
            if w & m != 0 {
                self.bucket(h, w, m, ident, i - 2, f);
            }
        }
    }

    /// The keywords filed under trigram `h`, found at `at` in `ident`.
    #[inline(never)]
    fn bucket(
        &self,
        h: usize,
        w: u64,
        m: u64,
        ident: &[u8],
        at: usize,
        f: &mut impl FnMut(u32, usize, usize),
    ) {
        let Some(&r) = self.rank.get(h / 64) else {
            return;
        };
        let r = r as usize + (w & (m - 1)).count_ones() as usize;
        let (Some(&s), Some(&e)) = (self.starts.get(r), self.starts.get(r + 1)) else {
            return;
        };
        let filed = self
            .bucket_keywords
            .get(s as usize..e as usize)
            .unwrap_or(&[]);
        for &(id, offset) in filed {
            if let Some(start) = at.checked_sub(usize::from(offset)) {
                self.compare(id, ident, start, f);
            }
        }
    }

    #[inline]
    fn compare(&self, id: u32, ident: &[u8], start: usize, f: &mut impl FnMut(u32, usize, usize)) {
        let Some(k) = self.keywords.get(id as usize) else {
            return;
        };
        let end = start + k.len();
        if ident
            .get(start..end)
            .is_some_and(|s| s.eq_ignore_ascii_case(k))
        {
            f(id, start, end);
        }
    }
}
