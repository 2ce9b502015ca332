//! A provider's own words, made safe once, where they enter: an OAuth `error`, `error_description` or
//! `error_uri` (from the token endpoint, the redirect or revocation) and the claims the card shows
//! (`name`, `email`, `preferred_username`). A provider is input, not truth: its text can carry
//! control characters that forge log lines (CR, LF), drive a terminal (ESC, BEL, BS), cut strings
//! (NUL) or reorder what a person reads (bidirectional overrides), and it can be any length. What
//! comes out is one line of printable text of at most [`PROVIDER_TEXT_MAX`] characters, shown as the
//! provider's words and logged as the same safe text.

/// The most characters of a provider's text that are kept (a description a person can read at once).
pub(crate) const PROVIDER_TEXT_MAX: usize = 300;

/// `raw` as one safe line: control and bidirectional-formatting characters removed, every run of
/// whitespace made one space, trimmed, and cut to [`PROVIDER_TEXT_MAX`] characters (with "…" where
/// it was cut).
pub(crate) fn provider_text(raw: &str) -> String {
    let mut text = String::with_capacity(raw.len().min(PROVIDER_TEXT_MAX * 4));
    let mut kept = 0;
    let mut space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            space = kept > 0;
            continue;
        }
        if c.is_control() || is_bidi_format(c) {
            continue;
        }
        if kept + usize::from(space) >= PROVIDER_TEXT_MAX {
            text.push('…');
            return text;
        }
        if space {
            text.push(' ');
            kept += 1;
            space = false;
        }
        text.push(c);
        kept += 1;
    }
    text
}

/// Characters that change the order or direction in which the text around them is shown (Unicode's
/// bidirectional embeddings, overrides, isolates and marks), and the zero-width ones that hide text.
fn is_bidi_format(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_pass() {
        let forged = "bad\r\n2026-12-06T10:00:00Z INFO signed in as admin\u{1b}[2J\u{7}\u{8}\0done";
        let safe = provider_text(forged);
        assert_eq!(safe, "bad 2026-12-06T10:00:00Z INFO signed in as admin[2Jdone");
        assert!(!safe.chars().any(char::is_control), "{safe:?}");
    }

    #[test]
    fn direction_overrides_and_hidden_characters_are_dropped() {
        assert_eq!(provider_text("invoice\u{202E}fdp.exe\u{200B}"), "invoicefdp.exe");
    }

    #[test]
    fn whitespace_is_one_space_and_the_ends_are_trimmed() {
        assert_eq!(provider_text("  the   grant\t\tis\u{a0}invalid \n"), "the grant is invalid");
        assert_eq!(provider_text(""), "");
        assert_eq!(provider_text("\r\n\u{1b}"), "");
    }

    #[test]
    fn long_text_is_cut_at_the_cap_on_a_character_boundary() {
        let long = "é".repeat(204_872);
        let safe = provider_text(&long);
        assert_eq!(safe.chars().count(), PROVIDER_TEXT_MAX + 1, "the cap and the ellipsis");
        assert!(safe.ends_with('…'));
        let exact = "a".repeat(PROVIDER_TEXT_MAX);
        assert_eq!(provider_text(&exact), exact, "text at the cap is kept whole");
    }
}
