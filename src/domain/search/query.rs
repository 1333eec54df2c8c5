//! The search language, parsed once and written out for each database.
//!
//! - words: every word must match (`smb tunnel`);
//! - `"quoted phrases"`: the words in this order, next to each other; a word
//!   with punctuation inside (`10.0.0.5`, `evil-corp.com`) is a phrase of
//!   its parts;
//! - `OR` (upper case) between two items: either (`ransomware OR wiper`);
//! - `-item`: no entry holding it (`-test`, `-"false positive"`);
//! - the last word, when bare, also matches as a prefix (`smb tun` finds
//!   "SMB tunnelling"), of its stem and of the word as typed.
//!
//! Everything else is a word: a lone `OR` at either end, lower-case `or`.

use super::text::{Token, tokens};
use crate::error::{AppError, AppResult};

/// Most items (words, phrases) one search holds.
pub const MAX_ITEMS: usize = 32;
/// Longest search, in characters.
pub const MAX_CHARS: usize = 512;

/// A parsed search: every group must match (a group matches when any of its
/// phrases does), and no excluded phrase may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub groups: Vec<Vec<Phrase>>,
    pub excluded: Vec<Phrase>,
}

/// Tokens that must stand next to each other, in order; one token is a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    pub tokens: Vec<Token>,
    /// The last token matches as a prefix too (type-ahead).
    pub prefix: bool,
}

impl Phrase {
    /// Every token is its own stem: matching anywhere, the stems' prefix is
    /// then the words' prefix, and one of the two is enough.
    fn stems_are_words(&self) -> bool {
        self.tokens.iter().all(|t| t.term == t.word)
    }
}

/// Before a title's term, and before a title's word, in the lexemes
/// PostgreSQL indexes for the title (see the `title_lexemes` migration): no
/// typed token holds punctuation, so no search word matches them by chance.
const TITLE_TERM: &str = "^";
const TITLE_WORD: &str = "~";

/// The fields an entry is matched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Title and body: whether the entry matches at all.
    Everywhere,
    /// The title alone: what ranks an entry first.
    Title,
}

#[derive(Debug)]
enum Item {
    Word(String),
    Quoted(String),
    Or,
}

/// Splits the raw text into words, quoted phrases and `OR`s, with their `-`.
fn items(text: &str) -> Vec<(bool, Item)> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        let (excluded, body) = match rest.strip_prefix('-') {
            Some(after) if after.starts_with(|c: char| !c.is_whitespace()) => (true, after),
            _ => (false, rest),
        };
        if let Some(quoted) = body.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            out.push((excluded, Item::Quoted(quoted[..end].to_owned())));
            rest = quoted.get(end + 1..).unwrap_or("");
        } else {
            let end = body.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(body.len());
            let word = &body[..end];
            out.push((excluded, if word == "OR" && !excluded { Item::Or } else { Item::Word(word.to_owned()) }));
            rest = &body[end..];
        }
    }
}

impl SearchQuery {
    /// Parses a search. `None` when it holds no word at all (it then filters
    /// nothing); `BAD_USER_INPUT` naming `field` when it is too long or
    /// excludes without asking for anything.
    pub fn parse(field: &str, text: &str) -> AppResult<Option<SearchQuery>> {
        crate::domain::refuse_nul(field, text)?;
        if text.chars().count() > MAX_CHARS {
            return Err(AppError::bad_input(field, format!("must be at most {MAX_CHARS} characters")));
        }
        let items = items(text);
        let last_bare = items.iter().rposition(|(excluded, item)| !excluded && !matches!(item, Item::Quoted(_)));
        let is_last_item = last_bare.is_some_and(|i| i + 1 == items.len());
        let mut groups: Vec<Vec<Phrase>> = Vec::new();
        let mut excluded = Vec::new();
        let mut join_next = false;
        let mut count = 0;
        for (i, (minus, item)) in items.iter().enumerate() {
            let (text, quoted) = match item {
                Item::Or => {
                    let has_left = groups.last().is_some_and(|g| !g.is_empty()) && !join_next;
                    let has_right = items[i + 1..].iter().any(|(minus, item)| !minus && !matches!(item, Item::Or));
                    if has_left && has_right {
                        join_next = true;
                        continue;
                    }
                    ("OR", false)
                }
                Item::Word(w) => (w.as_str(), false),
                Item::Quoted(q) => (q.as_str(), true),
            };
            let tokens = tokens(text);
            if tokens.is_empty() {
                continue;
            }
            count += 1;
            if count > MAX_ITEMS {
                return Err(AppError::bad_input(field, format!("at most {MAX_ITEMS} words or phrases")));
            }
            let prefix = !quoted && !minus && is_last_item && last_bare == Some(i);
            let phrase = Phrase { tokens, prefix };
            if *minus {
                excluded.push(phrase);
            } else if std::mem::take(&mut join_next) {
                groups.last_mut().expect("OR joins only after a group").push(phrase);
            } else {
                groups.push(vec![phrase]);
            }
        }
        if groups.is_empty() {
            if excluded.is_empty() {
                return Ok(None);
            }
            return Err(AppError::bad_input(field, "needs at least one word to find, not only words to exclude"));
        }
        Ok(Some(SearchQuery { groups, excluded }))
    }

    /// Whether an item is a phrase of several tokens: matching it needs their
    /// positions, which a text index keeps only in the indexed text.
    pub fn has_phrases(&self) -> bool {
        self.groups.iter().flatten().chain(&self.excluded).any(|p| p.tokens.len() > 1)
    }

    /// Every token a match can show (for highlights): those of the groups.
    pub fn wanted(&self) -> impl Iterator<Item = &Phrase> {
        self.groups.iter().flatten()
    }

    /// The FTS5 `MATCH` expression (columns `scope`, `title_terms`,
    /// `title_words`, `body_terms`, `body_words`), within one of the scope
    /// tokens `within`. Everywhere: in any column; by title: in the title
    /// columns, exclusions aside.
    pub fn fts5(&self, scope: Scope, within: &[String]) -> String {
        let (terms, words) = match scope {
            Scope::Everywhere => ("", ""),
            Scope::Title => ("{title_terms} : ", "{title_words} : "),
        };
        let phrase = |p: &Phrase, prefix: bool| {
            let quoted = |form: fn(&Token) -> &str| {
                let text: Vec<&str> = p.tokens.iter().map(form).collect();
                format!("\"{}\"{}", text.join(" ").replace('"', "\"\""), if prefix { " *" } else { "" })
            };
            if prefix && (!p.stems_are_words() || scope == Scope::Title) {
                format!("({terms}{} OR {words}{})", quoted(|t| &t.term), quoted(|t| &t.word))
            } else {
                format!("{terms}{}", quoted(|t| &t.term))
            }
        };
        let mut all: Vec<String> = self
            .groups
            .iter()
            .map(|g| format!("({})", g.iter().map(|p| phrase(p, p.prefix)).collect::<Vec<_>>().join(" OR ")))
            .collect();
        let scopes: Vec<String> = within.iter().map(|s| format!("\"{s}\"")).collect();
        all.insert(0, format!("({})", scopes.join(" OR ")));
        let mut expr = format!("({})", all.join(" AND "));
        if scope == Scope::Everywhere && !self.excluded.is_empty() {
            let none: Vec<String> = self.excluded.iter().map(|p| phrase(p, false)).collect();
            expr = format!("{expr} NOT ({})", none.join(" OR "));
        }
        expr
    }

    /// The PostgreSQL `tsquery` (see the `search_entries` migration).
    /// Within one of the scope lexemes `within`. Everywhere: any lexeme; by
    /// title: the title's own lexemes (its terms after `^`, its words after
    /// `~`; see the `title_lexemes` migration), exclusions aside. No weights
    /// either way, so the index decides a match without reading the entry
    /// back, unless it holds a phrase.
    pub fn tsquery(&self, scope: Scope, within: &[String]) -> String {
        let (terms, words) = match scope {
            Scope::Everywhere => ("", ""),
            Scope::Title => (TITLE_TERM, TITLE_WORD),
        };
        let lexeme = |text: &str| format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"));
        let phrase = |p: &Phrase, prefix: bool| {
            let chain = |form: fn(&Token) -> &str, mark: &str| {
                let last = p.tokens.len() - 1;
                let lexemes: Vec<String> = p
                    .tokens
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let star = if prefix && i == last { ":*" } else { "" };
                        format!("{}{star}", lexeme(&format!("{mark}{}", form(t))))
                    })
                    .collect();
                lexemes.join(" <-> ")
            };
            if prefix && (!p.stems_are_words() || scope == Scope::Title) {
                format!("(({}) | ({}))", chain(|t| &t.term, terms), chain(|t| &t.word, words))
            } else {
                format!("({})", chain(|t| &t.term, terms))
            }
        };
        let mut all: Vec<String> = self
            .groups
            .iter()
            .map(|g| format!("({})", g.iter().map(|p| phrase(p, p.prefix)).collect::<Vec<_>>().join(" | ")))
            .collect();
        let scopes: Vec<String> = within.iter().map(|s| lexeme(s)).collect();
        all.insert(0, format!("({})", scopes.join(" | ")));
        let mut expr = all.join(" & ");
        if scope == Scope::Everywhere && !self.excluded.is_empty() {
            let none: Vec<String> = self.excluded.iter().map(|p| phrase(p, false)).collect();
            expr = format!("{expr} & !({})", none.join(" | "));
        }
        expr
    }

    /// Whether a token of a text is one the search asks for (ignoring where it
    /// stands): what a snippet highlights.
    pub fn highlights(&self, token: &Token) -> bool {
        self.wanted().any(|p| {
            let last = p.tokens.len() - 1;
            p.tokens.iter().enumerate().any(|(i, t)| {
                token.term == t.term
                    || (p.prefix && i == last && (token.term.starts_with(&t.term) || token.word.starts_with(&t.word)))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SearchQuery {
        SearchQuery::parse("q", text).expect("valid").expect("not empty")
    }

    fn shape(q: &SearchQuery) -> (Vec<Vec<String>>, Vec<String>) {
        let show = |p: &Phrase| {
            let words: Vec<&str> = p.tokens.iter().map(|t| t.word.as_str()).collect();
            format!("{}{}", words.join("_"), if p.prefix { "*" } else { "" })
        };
        (q.groups.iter().map(|g| g.iter().map(show).collect()).collect(), q.excluded.iter().map(show).collect())
    }

    #[test]
    fn phrases_are_items_of_several_tokens() {
        for text in ["\"ssh tunnel\"", "10.0.0.5", "smb OR \"lateral movement\"", "smb -\"test only\""] {
            assert!(parse(text).has_phrases(), "{text}");
        }
        for text in ["smb tun", "\"smb\"", "ransomware OR wiper -test", "mimikatz"] {
            assert!(!parse(text).has_phrases(), "{text}");
        }
    }

    #[test]
    fn words_phrases_or_and_exclusions() {
        let q = parse(r#"ransomware OR wiper "lateral movement" -test 10.0.0.5 smb tun"#);
        let (groups, excluded) = shape(&q);
        assert_eq!(
            groups,
            [vec!["ransomware", "wiper"], vec!["lateral_movement"], vec!["10_0_0_5"], vec!["smb"], vec!["tun*"]]
        );
        assert_eq!(excluded, ["test"]);
    }

    #[test]
    fn only_a_bare_last_word_is_a_prefix() {
        assert_eq!(shape(&parse(r#"smb "tunnel""#)).0, [vec!["smb"], vec!["tunnel"]]);
        assert_eq!(shape(&parse("smb -tun")).0, [vec!["smb"]]);
        assert_eq!(shape(&parse("evil-corp.co ")).0, [vec!["evil_corp_co*"]]);
    }

    #[test]
    fn stray_operators_are_words() {
        assert_eq!(shape(&parse("OR smb")).0, [vec!["or"], vec!["smb*"]]);
        assert_eq!(shape(&parse("smb OR")).0, [vec!["smb"], vec!["or*"]]);
        assert_eq!(shape(&parse("a OR OR b")).0, [vec!["a", "or"], vec!["b*"]]);
        assert_eq!(shape(&parse("- smb")).0, [vec!["smb*"]]);
        assert_eq!(shape(&parse(r#""unclosed phrase"#)).0, [vec!["unclosed_phrase"]]);
    }

    #[test]
    fn empty_long_and_negative_only_searches() {
        assert_eq!(SearchQuery::parse("q", "  ... ").expect("valid"), None);
        let err = SearchQuery::parse("q", "-test").expect_err("nothing to find");
        assert!(err.to_string().contains("q"), "{err}");
        let many = vec!["w"; MAX_ITEMS + 1].join(" ");
        assert!(SearchQuery::parse("q", &many).is_err());
        assert!(SearchQuery::parse("q", &"x".repeat(MAX_CHARS + 1)).is_err());
        assert!(SearchQuery::parse("q", "a\0b").is_err());
    }

    #[test]
    fn written_for_each_database() {
        let q = parse(r#""smb tunnelling" OR dns -"false positive" tun"#);
        let within = ["#case#6163".to_owned()];
        assert_eq!(
            q.fts5(Scope::Everywhere, &within),
            "((\"#case#6163\") AND (\"smb tunnel\" OR \"dns\") AND (\"tun\" *)) NOT (\"fals posit\")"
        );
        assert_eq!(
            q.fts5(Scope::Title, &within),
            "((\"#case#6163\") AND ({title_terms} : \"smb tunnel\" OR {title_terms} : \"dns\") AND \
             (({title_terms} : \"tun\" * OR {title_words} : \"tun\" *)))"
        );
        assert_eq!(
            q.tsquery(Scope::Everywhere, &within),
            "('#case#6163') & (('smb' <-> 'tunnel') | ('dns')) & (('tun':*)) & !(('fals' <-> 'posit'))"
        );
        assert_eq!(
            q.tsquery(Scope::Title, &within),
            "('#case#6163') & (('^smb' <-> '^tunnel') | ('^dns')) & ((('^tun':*) | ('~tun':*)))"
        );
    }
}
