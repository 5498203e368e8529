//! What an identifier a person will read may contain: no control characters, and none of the
//! invisible format characters that make two different ids look the same or reorder the text
//! around them (bidirectional embeddings, overrides and isolates, zero-width spaces and joiners,
//! the left-to-right and right-to-left marks). Such ids are printed in pages, CSV and logs.

/// The first character of `s` that an identifier may not hold, if any.
///
/// ```
/// assert_eq!(catalogue::forbidden_char("support-bot"), None);
/// assert_eq!(catalogue::forbidden_char("bot\u{202E}gpj.exe"), Some('\u{202E}'));
/// assert_eq!(catalogue::forbidden_char("a\u{200B}b"), Some('\u{200B}'));
/// assert_eq!(catalogue::forbidden_char("tab\there"), Some('\t'));
/// assert_eq!(catalogue::forbidden_char("café"), None);
/// ```
pub fn forbidden_char(s: &str) -> Option<char> {
    s.chars()
        .find(|&c| c.is_control() || is_invisible_format(c))
}

/// U+200B–200F (zero-width space, non-joiner, joiner, LRM, RLM), U+202A–202E (bidirectional
/// embeddings and overrides), U+2066–2069 (bidirectional isolates).
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_format_character_is_refused_and_its_neighbours_are_not() {
        for c in ('\u{200B}'..='\u{200F}')
            .chain('\u{202A}'..='\u{202E}')
            .chain('\u{2066}'..='\u{2069}')
        {
            assert_eq!(
                forbidden_char(&format!("a{c}b")),
                Some(c),
                "{:04X}",
                c as u32
            );
        }
        for c in [
            '\u{200A}', '\u{2010}', '\u{2029}', '\u{202F}', '\u{2065}', '\u{206A}',
        ] {
            assert_eq!(forbidden_char(&format!("a{c}b")), None, "{:04X}", c as u32);
        }
    }
}
