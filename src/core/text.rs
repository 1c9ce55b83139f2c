//! Text shown to people that someone else chose (a client's name, a workspace's or member's
//! name): it must read as what it is. Control characters, and the invisible "format" characters
//! of Unicode category Cf — bidirectional overrides and isolates (U+202A–202E, U+2066–2069), zero
//! width spaces and joiners (U+200B–200F), the byte-order mark — can make "Claude Code\u{202E}"
//! or "Clau\u{200B}de Code" look like a name it is not, so such text is refused, not shown.

/// Unicode 15.1's General_Category=Cf, as ranges (DerivedGeneralCategory.txt).
const FORMAT: [(u32, u32); 21] = [
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// A character that changes how text around it reads without being seen: Cc or Cf.
pub fn is_hidden(c: char) -> bool {
    c.is_control() || FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)))
}

/// The first hidden character of `text`, as `U+XXXX`, for a message that says what to remove.
pub fn first_hidden(text: &str) -> Option<String> {
    text.chars().find(|&c| is_hidden(c)).map(code_point)
}

/// `c` as a message names it: `U+XXXX`.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// `text` as a message may quote it: hidden characters and line breaks written as `\u{XXXX}`,
/// so a NUL, a CRLF or a bidi override in what a client sent is seen, not obeyed.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hidden(c) || (c.is_whitespace() && c != ' ') {
            out.push_str(&format!("\\u{{{:04X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_shows_what_is_hidden_and_keeps_the_rest() {
        assert_eq!(quoted("a\r\nSet-Cookie: x\0"), "a\\u{000D}\\u{000A}Set-Cookie: x\\u{0000}");
        assert_eq!(quoted("Clau\u{200B}de l\u{3BF}cal"), "Clau\\u{200B}de l\u{3BF}cal");
    }

    #[test]
    fn bidi_zero_width_and_control_characters_are_hidden() {
        for c in ['\u{202E}', '\u{2066}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{00AD}', '\u{E0041}', '\n', '\u{7F}'] {
            assert!(is_hidden(c), "U+{:04X}", c as u32);
        }
        for c in ['a', 'é', '日', ' ', '-', '\u{1F600}', '\u{2010}'] {
            assert!(!is_hidden(c), "U+{:04X}", c as u32);
        }
        assert_eq!(first_hidden("Claude\u{202E}edoC"), Some("U+202E".into()));
        assert_eq!(first_hidden("Claude Code"), None);
    }
}
