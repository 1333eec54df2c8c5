//! A first look at a document before the parser sees it: how many tokens it
//! has and how deep its brackets nest. Refusing here costs one pass over the
//! bytes, so a huge or deeply nested document never reaches the (recursive)
//! parser. The count follows GraphQL's lexical grammar closely enough to be a
//! bound: the parser still decides what is valid.

use crate::error::AppError;

/// Tokens in one document.
pub const MAX_TOKENS: usize = 15_000;
/// Nesting of `{`, `(` and `[`.
pub const MAX_NESTING: usize = 64;

pub fn check(document: &str) -> Result<(), AppError> {
    let bytes = document.as_bytes();
    let (mut i, mut tokens, mut nesting) = (0, 0usize, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = block_string_end(bytes, i + 3),
            b'"' => i = string_end(bytes, i + 1),
            b'{' | b'(' | b'[' => {
                nesting += 1;
                if nesting > MAX_NESTING {
                    return Err(AppError::bad_input("query", format!("brackets nest deeper than {MAX_NESTING}")));
                }
                i += 1;
            }
            b'}' | b')' | b']' => {
                nesting = nesting.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            _ if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        tokens += 1;
        if tokens > MAX_TOKENS {
            return Err(AppError::bad_input("query", format!("the document has more than {MAX_TOKENS} tokens")));
        }
    }
    Ok(())
}

/// The index after a `"..."` string that opened before `i` (or the line's end).
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after a `"""..."""` block string that opened before `i`.
fn block_string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens_ok(n: usize) -> bool {
        check(&"a ".repeat(n)).is_ok()
    }

    #[test]
    fn counts_tokens_up_to_the_limit() {
        assert!(tokens_ok(MAX_TOKENS));
        assert!(!tokens_ok(MAX_TOKENS + 1));
        // Strings, comments and commas: a string is one token, the rest none.
        let long_string = format!("{{ a(x: \"{}\") }}", "w ".repeat(MAX_TOKENS));
        assert!(check(&long_string).is_ok());
        let commented = format!("# {}\n{{ a }}", "w ".repeat(MAX_TOKENS));
        assert!(check(&commented).is_ok());
        assert!(check(&",".repeat(MAX_TOKENS * 2)).is_ok());
    }

    #[test]
    fn refuses_deep_nesting_before_parsing() {
        let deep = format!("{}{}", "{a".repeat(MAX_NESTING + 1), "}".repeat(MAX_NESTING + 1));
        let err = check(&deep).unwrap_err();
        assert!(err.to_string().starts_with("query: brackets nest deeper"));
        let list = format!("{{ a(x: {}1{}) }}", "[".repeat(200), "]".repeat(200));
        assert!(check(&list).is_err());
        let fine = format!("{}{}", "{a".repeat(MAX_NESTING), "}".repeat(MAX_NESTING));
        assert!(check(&fine).is_ok());
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let quoted = format!("{{ a(x: \"{}\", y: \"\"\"{}\\\"\"\"\"\"\") }}", "{".repeat(500), "[".repeat(500));
        assert!(check(&quoted).is_ok());
    }
}
