//! The content type of a file, read from its first bytes: never the
//! client's word, which a hostile upload would choose.

/// What the file's first bytes say it is.
pub fn content_type(head: &[u8]) -> String {
    if head.is_empty() {
        return "application/x-empty".to_owned();
    }
    // A binary format's magic bytes decide; markup is told apart here (a
    // magic-number table calls an SVG image "text/xml").
    let magic =
        infer::get(head).map(|kind| kind.mime_type()).filter(|m| !m.starts_with("text/") && !m.ends_with("/xml"));
    match (magic, text(head)) {
        (Some(magic), _) => magic.to_owned(),
        (None, Some(text)) => text_type(text).to_owned(),
        (None, None) => "application/octet-stream".to_owned(),
    }
}

/// Types a browser shows or runs itself: such a file is downloaded as
/// `application/octet-stream`, whatever it is.
pub fn is_active(content_type: &str) -> bool {
    !matches!(
        content_type,
        "text/plain"
            | "text/csv"
            | "application/json"
            | "application/pdf"
            | "application/zip"
            | "application/gzip"
            | "application/x-7z-compressed"
            | "application/vnd.rar"
            | "application/x-tar"
            | "application/x-empty"
            | "application/octet-stream"
            | "application/vnd.tcpdump.pcap"
            | "message/rfc822"
            | "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/bmp"
    )
}

/// The head as text, when it is UTF-8 without NULs (a multi-byte character
/// cut at the end of the head does not count against it).
fn text(head: &[u8]) -> Option<&str> {
    if head.contains(&0) {
        return None;
    }
    match std::str::from_utf8(head) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() && head.len() - e.valid_up_to() < 4 => {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

fn text_type(text: &str) -> &'static str {
    let start = text.trim_start_matches('\u{feff}').trim_start();
    let lower: String = start.chars().take(512).collect::<String>().to_ascii_lowercase();
    let markup = ["<!doctype html", "<html", "<head", "<body", "<script", "<iframe", "<title", "<style", "<div", "<a "];
    if markup.iter().any(|m| lower.starts_with(m)) {
        return "text/html";
    }
    if lower.starts_with("<svg") || (lower.starts_with("<?xml") && lower.contains("<svg")) {
        return "image/svg+xml";
    }
    if lower.starts_with("<?xml") {
        return "application/xml";
    }
    if looks_like_mail(start) {
        return "message/rfc822";
    }
    if (start.starts_with('{') || start.starts_with('[')) && serde_json::from_str::<serde_json::Value>(text).is_ok() {
        return "application/json";
    }
    "text/plain"
}

/// An e-mail as saved (`.eml`): it opens with header lines and has a `From:`
/// and a `Subject:` or `Received:`.
fn looks_like_mail(text: &str) -> bool {
    let headers: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).take(100).collect();
    let is_header = |line: &&str| {
        line.starts_with([' ', '\t'])
            || line.split_once(':').is_some_and(|(name, _)| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    let named = |name: &str| headers.iter().any(|l| l.to_ascii_lowercase().starts_with(name));
    headers.len() >= 2
        && headers.iter().all(is_header)
        && named("from:")
        && (named("subject:") || named("received:") || named("message-id:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_decide() {
        assert_eq!(content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(content_type(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(content_type(b"MZ\x90\0\x03\0\0\0\x04\0\0\0"), "application/vnd.microsoft.portable-executable");
        assert_eq!(content_type(b"PK\x03\x04\x14\0\0\0"), "application/zip");
        assert_eq!(content_type(b"  <!DOCTYPE html><p>hi"), "text/html");
        assert_eq!(content_type(b"<script>alert(1)</script>"), "text/html");
        assert_eq!(content_type(b"<?xml version=\"1.0\"?>\n<svg onload=alert(1)>"), "image/svg+xml");
        assert_eq!(content_type(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), "image/svg+xml");
        assert_eq!(content_type(b"alert(document.cookie)"), "text/plain");
        assert_eq!(content_type(b"host,ip\nweb1,10.0.0.1\n"), "text/plain");
        assert_eq!(content_type(b"{\"a\": 1}"), "application/json");
        assert_eq!(content_type(b"Received: from x\nFrom: a@b.example\nSubject: invoice\n\nbody"), "message/rfc822");
        assert_eq!(content_type(b"\x00\x01\x02\xff"), "application/octet-stream");
        assert_eq!(content_type(b""), "application/x-empty");
        assert_eq!(content_type("caf\u{e9}".as_bytes()), "text/plain");
        assert_eq!(content_type(&"é".as_bytes()[..1]), "text/plain");
    }

    #[test]
    fn what_a_browser_runs_is_active() {
        for active in ["text/html", "image/svg+xml", "application/xml", "application/javascript", "text/xml"] {
            assert!(is_active(active), "{active}");
        }
        for passive in ["text/plain", "image/png", "application/pdf", "message/rfc822"] {
            assert!(!is_active(passive), "{passive}");
        }
    }
}
