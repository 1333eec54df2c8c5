//! Short excerpts of a hit's text around what the search asked for, with the
//! matching words marked: what a search box shows under each hit.

use super::query::SearchQuery;
use super::text::tokens;

/// Characters of context kept before the first highlighted word.
const LEAD_CHARS: usize = 40;
/// Longest excerpt, in characters (without the ellipses).
const MAX_CHARS: usize = 200;

/// An excerpt and the ranges of it that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    /// Byte ranges into `text`, in order, not overlapping.
    pub highlights: Vec<(usize, usize)>,
}

impl Snippet {
    /// The ranges in UTF-16 code units (how JavaScript indexes strings).
    pub fn utf16_highlights(&self) -> Vec<(usize, usize)> {
        let at = |byte: usize| self.text[..byte].encode_utf16().count();
        self.highlights.iter().map(|&(start, end)| (at(start), at(end))).collect()
    }

    /// As HTML: the text escaped, each highlight in `<mark>`.
    pub fn html(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 16 * self.highlights.len());
        let mut done = 0;
        for &(start, end) in &self.highlights {
            escape_into(&mut out, &self.text[done..start]);
            out.push_str("<mark>");
            escape_into(&mut out, &self.text[start..end]);
            out.push_str("</mark>");
            done = end;
        }
        escape_into(&mut out, &self.text[done..]);
        out
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The excerpt of the first of `texts` with a word the search asks for (or
/// the start of the first text when none has one).
pub fn excerpt(query: &SearchQuery, texts: &[&str]) -> Snippet {
    let found = texts.iter().find_map(|text| {
        let marked: Vec<(usize, usize)> =
            tokens(text).into_iter().filter(|t| query.highlights(t)).map(|t| (t.start, t.end)).collect();
        (!marked.is_empty()).then_some((*text, marked))
    });
    let fallback = texts.iter().copied().find(|t| !t.is_empty()).unwrap_or("");
    let (text, marked) = found.unwrap_or((fallback, Vec::new()));
    let first = marked.first().map_or(0, |m| m.0);
    // Start a little before the first match, on a word boundary.
    let mut start = text[..first].char_indices().rev().nth(LEAD_CHARS).map_or(0, |(i, _)| i);
    if start > 0 {
        start = text[start..first].find(char::is_whitespace).map_or(start, |i| start + i + 1);
    }
    let end = text[start..].char_indices().nth(MAX_CHARS).map_or(text.len(), |(i, _)| start + i);
    let (lead, trail) = (if start > 0 { "…" } else { "" }, if end < text.len() { "…" } else { "" });
    let body = &text[start..end];
    let highlights = marked
        .iter()
        .filter(|(s, e)| *s >= start && *e <= end)
        .map(|(s, e)| (s - start + lead.len(), e - start + lead.len()))
        .collect();
    Snippet { text: format!("{lead}{body}{trail}"), highlights }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> SearchQuery {
        SearchQuery::parse("q", text).expect("valid").expect("not empty")
    }

    #[test]
    fn marks_stems_and_the_typed_prefix() {
        let s = excerpt(&query("smb tun"), &["Beacon over SMB; tunnelling to 10.0.0.5 <b>"]);
        assert_eq!(s.text, "Beacon over SMB; tunnelling to 10.0.0.5 <b>");
        let marked: Vec<&str> = s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect();
        assert_eq!(marked, ["SMB", "tunnelling"]);
        assert_eq!(s.html(), "Beacon over <mark>SMB</mark>; <mark>tunnelling</mark> to 10.0.0.5 &lt;b&gt;");
    }

    #[test]
    fn long_texts_are_cut_around_the_first_match() {
        let text = format!("{} needle {}", "hay ".repeat(100), "straw ".repeat(100));
        let s = excerpt(&query("needle"), &["no match in the title", &text]);
        assert!(s.text.starts_with('…') && s.text.ends_with('…'), "{}", s.text);
        assert!(s.text.chars().count() <= MAX_CHARS + 2);
        assert_eq!(s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect::<Vec<_>>(), ["needle"]);
    }

    #[test]
    fn highlights_count_utf16_units() {
        let s = excerpt(&query("ölfeld"), &["🦀 Ölfeld"]);
        assert_eq!(s.utf16_highlights(), [(3, 9)]);
    }

    #[test]
    fn without_a_match_the_first_text_starts_the_excerpt() {
        let s = excerpt(&query("absent"), &["Title", "Body"]);
        assert_eq!((s.text.as_str(), s.highlights.len()), ("Title", 0));
    }
}
