//! Invisible and direction-changing characters in string arguments.
//!
//! A reviewer (human or model) reads the text; the executor acts on the code points. Characters
//! that render as nothing, or that reorder what is rendered, let the two disagree:
//! tag characters spell hidden ASCII ("ASCII smuggling"), bidi overrides disguise file names
//! and code (Trojan Source), zero-width characters make lookalike names, runs of variation
//! selectors carry arbitrary bytes.
//!
//! Two strictness levels:
//! - [`TextLevel::Identifier`] for names, paths, URLs and SQL: every such character is refused,
//!   including the joiners and marks that natural-language text needs.
//! - [`TextLevel::Prose`] for free text (file content and the like): ZWNJ/ZWJ (Persian, Indic
//!   scripts, emoji sequences), directional marks, soft hyphens and single variation selectors
//!   are allowed, and tag characters are allowed only inside a well-formed emoji tag sequence
//!   (U+1F3F4, 1–6 tag digits or lowercase tag letters, CANCEL TAG).

use crate::verdict::{Coded, MessageWriter, ReasonCode, error_via_message};

/// How strict the invisible-character check is for one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextLevel {
    /// Names, paths, URLs, SQL: no invisible or directional character at all.
    Identifier,
    /// Natural-language text: the characters real scripts and emoji need are allowed.
    Prose,
}

/// Which kind of character was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvisibleKind {
    /// U+E0000–U+E007F outside a well-formed emoji tag sequence.
    TagCharacter,
    /// Bidi embedding, override or isolate controls (and marks, at identifier level).
    BidiControl,
    /// Zero-width space, word joiner, BOM and similar.
    ZeroWidth,
    /// Two or more variation selectors in a row (a byte-smuggling channel).
    VariationSelectorRun,
    /// Other code points that render as nothing (fillers, invisible operators, NUL).
    OtherInvisible,
}

impl InvisibleKind {
    fn describe(self) -> &'static str {
        match self {
            InvisibleKind::TagCharacter => "unicode tag character",
            InvisibleKind::BidiControl => "bidirectional control character",
            InvisibleKind::ZeroWidth => "zero-width character",
            InvisibleKind::VariationSelectorRun => "run of variation selectors",
            InvisibleKind::OtherInvisible => "invisible character",
        }
    }
}

/// An invisible or direction-changing character in a string argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvisibleCharacter {
    /// What was found.
    pub kind: InvisibleKind,
    /// The first offending code point.
    pub code_point: u32,
    /// Its byte offset in the argument.
    pub offset: usize,
}

impl InvisibleCharacter {
    /// Writes the message: what `Display` shows and a reason carries.
    fn write_message(&self, w: &mut MessageWriter<'_>) {
        w.text(self.kind.describe())
            .text(" ")
            .code_point(self.code_point)
            .text(" at byte ")
            .decimal(self.offset);
    }
}

error_via_message!(InvisibleCharacter);

impl Coded for InvisibleCharacter {
    fn code(&self) -> ReasonCode {
        ReasonCode::InvisibleCharacters
    }

    fn write_message_to(&self, out: &mut String) {
        self.write_message(&mut MessageWriter(out));
    }
}

const CANCEL_TAG: char = '\u{E007F}';
const BLACK_FLAG: char = '\u{1F3F4}';

fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

fn is_variation_selector(c: char) -> bool {
    ('\u{FE00}'..='\u{FE0F}').contains(&c) || ('\u{E0100}'..='\u{E01EF}').contains(&c)
}

/// Classifies a code point that is refused at every level, if it is one.
fn always_refused(c: char) -> Option<InvisibleKind> {
    match c {
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => Some(InvisibleKind::BidiControl),
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}' => Some(InvisibleKind::ZeroWidth),
        '\0'
        | '\u{2061}'..='\u{2064}'
        | '\u{115F}'
        | '\u{1160}'
        | '\u{3164}'
        | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}' => Some(InvisibleKind::OtherInvisible),
        _ => None,
    }
}

/// Classifies a code point that is refused in identifiers but allowed in prose.
fn refused_in_identifiers(c: char) -> Option<InvisibleKind> {
    match c {
        '\u{200E}' | '\u{200F}' | '\u{061C}' => Some(InvisibleKind::BidiControl),
        '\u{200C}' | '\u{200D}' | '\u{00AD}' | '\u{034F}' => Some(InvisibleKind::ZeroWidth),
        _ if is_variation_selector(c) => Some(InvisibleKind::OtherInvisible),
        _ => None,
    }
}

/// Length in bytes of a well-formed emoji tag sequence's tag part starting at `rest`
/// (just after U+1F3F4), or `None` if it is not well formed.
fn emoji_tag_len(rest: &str) -> Option<usize> {
    let mut len = 0;
    for (tags, c) in rest.chars().enumerate() {
        if c == CANCEL_TAG {
            return (1..=6).contains(&tags).then_some(len + c.len_utf8());
        }
        let ascii = u32::from(c).wrapping_sub(0xE0000);
        let ok = matches!(ascii, 0x30..=0x39 | 0x61..=0x7A);
        if !ok || tags == 6 {
            return None;
        }
        len += c.len_utf8();
    }
    None
}

/// Checks one string argument. ASCII input returns after one fast scan.
pub fn check_text(text: &str, level: TextLevel) -> Result<(), InvisibleCharacter> {
    if text.is_ascii() {
        return match memchr::memchr(0, text.as_bytes()) {
            Some(offset) => Err(InvisibleCharacter {
                kind: InvisibleKind::OtherInvisible,
                code_point: 0,
                offset,
            }),
            None => Ok(()),
        };
    }
    let mut iter = text.char_indices().peekable();
    let mut prev_vs = false;
    while let Some((offset, c)) = iter.next() {
        // Of the ASCII characters only NUL is refused (below); none is a flag, tag or selector.
        if c.is_ascii() && c != '\0' {
            prev_vs = false;
            continue;
        }
        let err = |kind| InvisibleCharacter {
            kind,
            code_point: u32::from(c),
            offset,
        };
        if let Some(kind) = always_refused(c) {
            return Err(err(kind));
        }
        if c == BLACK_FLAG {
            let after = offset + c.len_utf8();
            if let Some(len) = text.get(after..).and_then(emoji_tag_len) {
                while iter.peek().is_some_and(|&(o, _)| o < after + len) {
                    iter.next();
                }
            }
            prev_vs = false;
            continue;
        }
        if is_tag(c) {
            return Err(err(InvisibleKind::TagCharacter));
        }
        if let Some(kind) = refused_in_identifiers(c).filter(|_| level == TextLevel::Identifier) {
            return Err(err(kind));
        }
        let vs = is_variation_selector(c);
        if vs && prev_vs {
            return Err(err(InvisibleKind::VariationSelectorRun));
        }
        prev_vs = vs;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str, level: TextLevel) -> Option<InvisibleKind> {
        check_text(text, level).err().map(|e| e.kind)
    }

    #[test]
    fn ascii_passes_except_nul() {
        assert_eq!(kind("/workspace/a.txt", TextLevel::Identifier), None);
        assert_eq!(
            kind("a\0b", TextLevel::Prose),
            Some(InvisibleKind::OtherInvisible)
        );
        // The same NUL in text that is not all ASCII, where the per-character loop runs.
        assert_eq!(kind("/workspace/caf\u{e9}", TextLevel::Identifier), None);
        assert_eq!(
            check_text("caf\u{e9}\0", TextLevel::Identifier).err(),
            Some(InvisibleCharacter {
                kind: InvisibleKind::OtherInvisible,
                code_point: 0,
                offset: 5,
            })
        );
    }

    #[test]
    fn tag_characters() {
        let smuggled = "README.md\u{E002E}\u{E002E}\u{E002F}";
        assert_eq!(
            kind(smuggled, TextLevel::Prose),
            Some(InvisibleKind::TagCharacter)
        );
        let scotland = "Go \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}!";
        assert_eq!(kind(scotland, TextLevel::Prose), None);
        // Seven tags, or a space tag, is not a subdivision flag.
        let fake =
            "\u{1F3F4}\u{E0069}\u{E0067}\u{E006E}\u{E006F}\u{E0072}\u{E0065}\u{E0020}\u{E007F}";
        assert_eq!(
            kind(fake, TextLevel::Prose),
            Some(InvisibleKind::TagCharacter)
        );
        let unterminated = "\u{1F3F4}\u{E0067}\u{E0062}";
        assert_eq!(
            kind(unterminated, TextLevel::Prose),
            Some(InvisibleKind::TagCharacter)
        );
    }

    #[test]
    fn bidi_and_zero_width() {
        assert_eq!(
            kind("invoice_\u{202E}gpj.exe", TextLevel::Prose),
            Some(InvisibleKind::BidiControl)
        );
        assert_eq!(
            kind("a\u{2067}b", TextLevel::Prose),
            Some(InvisibleKind::BidiControl)
        );
        assert_eq!(
            kind("READ\u{200B}ME", TextLevel::Prose),
            Some(InvisibleKind::ZeroWidth)
        );
        // ZWNJ is part of Persian spelling; refused only in identifiers.
        let persian = "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}";
        assert_eq!(kind(persian, TextLevel::Prose), None);
        assert_eq!(
            kind(persian, TextLevel::Identifier),
            Some(InvisibleKind::ZeroWidth)
        );
        assert_eq!(
            kind("a\u{200F}b", TextLevel::Identifier),
            Some(InvisibleKind::BidiControl)
        );
        assert_eq!(
            kind("git\u{00AD}hub", TextLevel::Identifier),
            Some(InvisibleKind::ZeroWidth)
        );
    }

    #[test]
    fn variation_selectors() {
        assert_eq!(kind("\u{2764}\u{FE0F}", TextLevel::Prose), None);
        let payload = "hi \u{1F600}\u{E0153}\u{E0165}\u{E0162}";
        assert_eq!(
            kind(payload, TextLevel::Prose),
            Some(InvisibleKind::VariationSelectorRun)
        );
        assert_eq!(
            kind("\u{2764}\u{FE0F}", TextLevel::Identifier),
            Some(InvisibleKind::OtherInvisible)
        );
    }

    #[test]
    fn visible_non_ascii_passes() {
        assert_eq!(
            kind(
                "/workspace/docs/\u{05E9}\u{05DC}\u{05D5}\u{05DD}.txt",
                TextLevel::Identifier
            ),
            None
        );
        assert_eq!(kind("caf\u{E9} cr\u{E8}me", TextLevel::Identifier), None);
    }

    #[test]
    fn offsets_point_at_the_character() {
        let err = check_text("ab\u{200B}", TextLevel::Prose).unwrap_err();
        assert_eq!(err.offset, 2);
        assert_eq!(err.code_point, 0x200B);
    }
}
