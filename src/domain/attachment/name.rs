//! File names as clients give them, made safe to show and to save: what a
//! browser or a shell does with a name must not depend on tricks hidden in it.

/// The longest name kept, in characters (the extension survives a cut).
pub const MAX_NAME_CHARS: usize = 200;

/// The name to keep for a file a client called `given`:
/// - only the last path segment (`/` and `\` both separate);
/// - no control characters (C0, DEL, C1) and no bidirectional controls
///   (RLO and friends, which make `exe.pdf` read as `fdp.exe`);
/// - no leading or trailing dots and spaces (hidden files, Windows);
/// - a Windows device name (`CON`, `nul.txt`, `COM1`) gets a `_` in front;
/// - at most [`MAX_NAME_CHARS`] characters, the extension kept;
/// - `file` when nothing is left.
pub fn safe_file_name(given: &str) -> String {
    let last = given.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !is_hidden_control(*c)).collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let mut name = if trimmed.is_empty() { "file".to_owned() } else { trimmed.to_owned() };
    if is_windows_device(&name) {
        name.insert(0, '_');
    }
    shorten(&name)
}

fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200e}' | '\u{200f}' | '\u{061c}'            // marks
            | '\u{202a}'..='\u{202e}'                       // embeddings and overrides
            | '\u{2066}'..='\u{2069}'                       // isolates
            | '\u{feff}' | '\u{200b}'..='\u{200d}' | '\u{2060}')
}

fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end().to_ascii_uppercase();
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit()
            && stem.as_bytes()[3] != b'0')
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_CHARS {
        return name.to_owned();
    }
    let extension = name.rsplit_once('.').map(|(_, e)| e).filter(|e| !e.is_empty() && e.chars().count() <= 16);
    match extension {
        Some(extension) => {
            let keep = MAX_NAME_CHARS - extension.chars().count() - 1;
            let stem: String = name.chars().take(keep).collect();
            format!("{}.{extension}", stem.trim_end())
        }
        None => name.chars().take(MAX_NAME_CHARS).collect(),
    }
}

/// The name as an HTTP header shows it: `filename="..."` in ASCII (others
/// replaced by `_`, quotes and backslashes too) and `filename*` in UTF-8 for
/// clients that read it (RFC 6266).
pub fn content_disposition(name: &str) -> String {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_made_harmless() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\Users\\x\\evil.exe"), "evil.exe");
        assert_eq!(safe_file_name("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(safe_file_name("a\u{0}b\nc\u{85}d.txt"), "abcd.txt");
        assert_eq!(safe_file_name("  .hidden  "), "hidden");
        assert_eq!(safe_file_name("CON"), "_CON");
        assert_eq!(safe_file_name("nul.txt"), "_nul.txt");
        assert_eq!(safe_file_name("com1.log"), "_com1.log");
        assert_eq!(safe_file_name("com10.log"), "com10.log");
        assert_eq!(safe_file_name("console.log"), "console.log");
        assert_eq!(safe_file_name("../"), "file");
        assert_eq!(safe_file_name(""), "file");
        let long = format!("{}.pcap", "a".repeat(500));
        let kept = safe_file_name(&long);
        assert_eq!(kept.chars().count(), MAX_NAME_CHARS);
        assert!(kept.ends_with(".pcap"));
        assert_eq!(safe_file_name("résumé 2026.pdf"), "résumé 2026.pdf");
    }

    #[test]
    fn headers_carry_only_safe_ascii_and_the_encoded_name() {
        assert_eq!(
            content_disposition("a \"b\"\\ é.txt"),
            "attachment; filename=\"a _b__ _.txt\"; filename*=UTF-8''a%20%22b%22%5C%20%C3%A9.txt"
        );
    }
}
