//! How text becomes search tokens: one tokenizer, in Rust, for both
//! databases, so a search finds the same rows on each. The databases only
//! store and match the tokens written here (PostgreSQL as a `tsvector` built
//! from them, SQLite through FTS5's `ascii` tokenizer, which splits them on
//! the spaces between them and nowhere else).
//!
//! A token is a run of ASCII letters and digits or of non-ASCII letters and
//! digits: punctuation splits `10.0.0.5`, `ws-0421.corp.local` or
//! `mimikatz.exe` into parts that a search matches as a phrase, so host
//! names, IPs, hashes and file names stay findable whole or by part. Each
//! token is lower-cased; words of ASCII letters only are also reduced to
//! their English stem (Snowball), so `tunnel` finds "tunnelling".

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

/// Longest token kept, in bytes: longer runs (encoded blobs) are cut here,
/// on both sides of a search alike. A SHA-512 in hex is 128.
pub const MAX_TOKEN_BYTES: usize = 160;

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// One token of a text: where it stands and its two indexed forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Byte range in the original text.
    pub start: usize,
    pub end: usize,
    /// Lower-cased, as written (type-ahead matches its prefix).
    pub word: String,
    /// The English stem of `word`, or `word` itself when it holds digits or
    /// non-ASCII letters.
    pub term: String,
}

fn is_token_char(c: char) -> bool {
    if c.is_ascii() { c.is_ascii_alphanumeric() } else { c.is_alphanumeric() }
}

/// The tokens of `text`, in order.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (start, is_token_char(c)) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push(token(text, s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn token(text: &str, start: usize, end: usize) -> Token {
    let word = truncate(text[start..end].to_lowercase());
    let term =
        if word.bytes().all(|b| b.is_ascii_lowercase()) { ENGLISH.stem(&word).into_owned() } else { word.clone() };
    Token { start, end, word, term }
}

fn truncate(mut word: String) -> String {
    if word.len() > MAX_TOKEN_BYTES {
        let mut cut = MAX_TOKEN_BYTES;
        while !word.is_char_boundary(cut) {
            cut -= 1;
        }
        word.truncate(cut);
    }
    word
}

/// The most one text field of an entry stores, in bytes of its stems and
/// of its words each: the tokens past it (a case's later observables, say)
/// are not indexed. It keeps an entry's PostgreSQL `tsvector` far below its
/// 1 MB limit, the same on both databases, and bounds what indexing a
/// change costs however much text the entity holds.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// What one text field of an entry stores: its stems and its words, each
/// joined by single spaces (one token each, in order), at most
/// [`MAX_FIELD_BYTES`] of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Indexed {
    pub terms: String,
    pub words: String,
}

impl Indexed {
    pub fn of(texts: &[Option<&str>]) -> Indexed {
        let mut indexed = Indexed::default();
        for text in texts.iter().flatten() {
            for token in tokens(text) {
                let room = |field: &String, token: &str| field.len() + 1 + token.len() <= MAX_FIELD_BYTES;
                if !room(&indexed.terms, &token.term) || !room(&indexed.words, &token.word) {
                    return indexed;
                }
                for (field, token) in [(&mut indexed.terms, &token.term), (&mut indexed.words, &token.word)] {
                    if !field.is_empty() {
                        field.push(' ');
                    }
                    field.push_str(token);
                }
            }
        }
        indexed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|t| t.word).collect()
    }
    fn terms(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|t| t.term).collect()
    }

    #[test]
    fn security_tokens_split_on_punctuation_and_keep_their_parts() {
        assert_eq!(words("Beacon to 10.0.0.5:443"), ["beacon", "to", "10", "0", "0", "5", "443"]);
        assert_eq!(
            words("WS-0421.corp.local ran mimikatz.exe"),
            ["ws", "0421", "corp", "local", "ran", "mimikatz", "exe"]
        );
        assert_eq!(words(r"C:\Windows\Temp\a_b.ps1"), ["c", "windows", "temp", "a", "b", "ps1"]);
        let md5 = "D41D8CD98F00B204E9800998ECF8427E";
        assert_eq!(terms(md5), [md5.to_lowercase()], "hashes are neither split nor stemmed");
    }

    #[test]
    fn english_words_are_stemmed_and_others_kept() {
        assert_eq!(terms("SMB tunnelling tunnels"), ["smb", "tunnel", "tunnel"]);
        assert_eq!(terms("phishing phished 2nd"), ["phish", "phish", "2nd"]);
        assert_eq!(terms("Überprüfung läuft"), ["überprüfung", "läuft"]);
    }

    #[test]
    fn byte_ranges_point_into_the_original_text() {
        let text = "Größe — «Ölfeld» ok";
        let spans: Vec<&str> = tokens(text).iter().map(|t| &text[t.start..t.end]).collect();
        assert_eq!(spans, ["Größe", "Ölfeld", "ok"]);
    }

    #[test]
    fn long_runs_are_cut_on_a_character_boundary() {
        let long = "é".repeat(200);
        let token = &tokens(&long)[0];
        assert!(token.word.len() <= MAX_TOKEN_BYTES && token.word.len() >= MAX_TOKEN_BYTES - 1);
        assert_eq!((token.start, token.end), (0, long.len()));
    }

    #[test]
    fn an_indexed_field_stores_one_token_per_space() {
        let indexed = Indexed::of(&[Some("Lateral movement"), None, Some("via SMB-tunnelling")]);
        assert_eq!(indexed.terms, "later movement via smb tunnel");
        assert_eq!(indexed.words, "lateral movement via smb tunnelling");
        assert_eq!(Indexed::of(&[None]), Indexed::default());
    }

    #[test]
    fn an_indexed_field_stops_at_its_budget() {
        let value = (0..2000).map(|n| format!("x{n}")).collect::<Vec<_>>().join(".");
        let many: Vec<Option<&str>> = std::iter::repeat_n(Some(value.as_str()), 100).collect();
        let indexed = Indexed::of(&many);
        assert!(indexed.terms.len() <= MAX_FIELD_BYTES && indexed.words.len() <= MAX_FIELD_BYTES);
        assert!(indexed.words.len() > MAX_FIELD_BYTES - 16, "it fills up to the budget");
        assert!(indexed.words.starts_with("x0 x1 x2"));
    }
}
