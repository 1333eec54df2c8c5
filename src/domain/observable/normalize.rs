//! Observable values, checked and written one canonical way per type, so that
//! the same indicator typed two ways is one indicator (and the pivot finds it).
//! Parsers from well-kept crates do the work where one exists: the standard
//! library's IP types, `url`, `idna`.

use std::net::IpAddr;

use super::ObservableType;

/// The longest value of any type, in characters (long URLs and command lines).
pub const MAX_VALUE_CHARS: usize = 4096;

/// Why a value is not a valid value of its type: the rule it breaks, as the
/// second half of "observables[2].value: ..." reads.
pub type Refusal = String;

/// Checks `value` as a value of `kind` and returns its canonical form.
pub fn normalize(kind: ObservableType, value: &str) -> Result<String, Refusal> {
    if value.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be blank".into());
    }
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(format!("must be at most {MAX_VALUE_CHARS} characters"));
    }
    match kind {
        ObservableType::IpAddress => ip_address(value),
        ObservableType::Domain => domain(value, true),
        ObservableType::Hostname => domain(value, false),
        ObservableType::Url => url(value),
        ObservableType::EmailAddress => email(value),
        ObservableType::FileHashMd5 => hash(value, 32, "an MD5 hash"),
        ObservableType::FileHashSha1 => hash(value, 40, "a SHA-1 hash"),
        ObservableType::FileHashSha256 => hash(value, 64, "a SHA-256 hash"),
        ObservableType::FileName => file_name(value),
        ObservableType::UserAccount => single_line(value, "a user account").map(|v| v.to_lowercase()),
        ObservableType::Process => single_line(value, "a process").map(str::to_owned),
        ObservableType::RegistryKey => registry_key(value),
        ObservableType::Cve => cve(value),
        ObservableType::Other => Ok(value.to_owned()),
    }
}

/// IPv4 or IPv6, printed canonically (RFC 5952 for IPv6). Brackets around an
/// IPv6 address (as in URLs) are accepted; zones, ports and networks are not.
fn ip_address(value: &str) -> Result<String, Refusal> {
    let bare = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(value);
    bare.parse::<IpAddr>().map(|ip| ip.to_string()).map_err(|_| {
        "must be an IPv4 address (such as 192.0.2.10, without leading zeros) or an IPv6 address (such as 2001:db8::1)"
            .into()
    })
}

/// A DNS name: lower-cased, the trailing dot dropped, international names in
/// their ASCII (punycode) form; labels of letters, digits, `-` and `_`, at
/// most 63 characters, at most 253 in all. A domain has at least two labels.
fn domain(value: &str, is_domain: bool) -> Result<String, Refusal> {
    let what = if is_domain { "a domain name" } else { "a host name" };
    let name = value.strip_suffix('.').unwrap_or(value);
    if name.parse::<IpAddr>().is_ok() {
        return Err(format!("must be {what}, not an IP address (use the type IP_ADDRESS)"));
    }
    let ascii = idna::domain_to_ascii(name).map_err(|_| format!("must be {what} (IDNA conversion failed)"))?;
    if ascii.is_empty() || ascii.len() > 253 {
        return Err(format!("must be {what} of 1 to 253 characters"));
    }
    for label in ascii.split('.') {
        let valid_chars = label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if label.is_empty() || label.len() > 63 || !valid_chars || label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "must be {what}: each label 1 to 63 letters, digits, '-' or '_', not starting or ending with '-'"
            ));
        }
    }
    if is_domain && !ascii.contains('.') {
        return Err("must be a domain name with at least two labels, such as example.com".into());
    }
    if ascii.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("must be {what}: the last label cannot be all digits"));
    }
    Ok(ascii)
}

/// An absolute URL with a host, as the `url` crate (WHATWG) writes it: scheme
/// and host lower-cased, international hosts in ASCII, default ports dropped.
fn url(value: &str) -> Result<String, Refusal> {
    let parsed = url::Url::parse(value).map_err(|e| format!("must be an absolute URL with a host ({e})"))?;
    if !parsed.has_host() || parsed.host_str().is_none_or(str::is_empty) {
        return Err("must be an absolute URL with a host, such as https://example.com/path".into());
    }
    Ok(parsed.to_string())
}

/// `local@domain`: the local part of RFC 5322 atoms separated by dots (at
/// most 64 characters), the domain as [`domain`] writes it. Lower-cased as a
/// whole: mail systems treat the local part without case in practice, and an
/// indicator must not split on it.
fn email(value: &str) -> Result<String, Refusal> {
    const RULE: &str = "must be an e-mail address such as alice@example.com";
    let (local, host) = value.rsplit_once('@').ok_or_else(|| RULE.to_owned())?;
    let atom_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.split('.').all(|atom| !atom.is_empty() && atom.chars().all(atom_char));
    if !local_ok {
        return Err(format!("{RULE} (the part before @ is not valid)"));
    }
    let host = domain(host, true).map_err(|e| format!("{RULE} (after @: {e})"))?;
    Ok(format!("{}@{host}", local.to_lowercase()))
}

/// Hexadecimal of exactly `digits` digits, lower-cased.
fn hash(value: &str, digits: usize, what: &str) -> Result<String, Refusal> {
    if value.len() != digits || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("must be {what}: exactly {digits} hexadecimal digits"));
    }
    Ok(value.to_ascii_lowercase())
}

/// One line of text, no control characters.
fn single_line<'v>(value: &'v str, what: &str) -> Result<&'v str, Refusal> {
    if value.chars().any(char::is_control) {
        return Err(format!("must be {what} on one line, without control characters"));
    }
    Ok(value)
}

/// A file's name, without a directory (a path belongs in PROCESS or OTHER);
/// kept as given, since file systems differ on case.
fn file_name(value: &str) -> Result<String, Refusal> {
    let name = single_line(value, "a file name")?;
    if name.contains(['/', '\\']) {
        return Err("must be a file name without a directory ('/' or '\\')".into());
    }
    if name.chars().count() > 255 {
        return Err("must be a file name of at most 255 characters".into());
    }
    Ok(name.to_owned())
}

/// The Windows root keys, each with its abbreviation.
const HIVES: [(&str, &str); 6] = [
    ("HKEY_LOCAL_MACHINE", "HKLM"),
    ("HKEY_CURRENT_USER", "HKCU"),
    ("HKEY_CLASSES_ROOT", "HKCR"),
    ("HKEY_USERS", "HKU"),
    ("HKEY_CURRENT_CONFIG", "HKCC"),
    ("HKEY_PERFORMANCE_DATA", "HKPD"),
];

/// `HIVE\path`: the hive written out in full (`HKLM` is `HKEY_LOCAL_MACHINE`),
/// the path lower-cased (the registry ignores case) without a trailing `\`.
fn registry_key(value: &str) -> Result<String, Refusal> {
    let key = single_line(value, "a registry key")?;
    let (hive, path) = key.split_once('\\').unwrap_or((key, ""));
    let upper = hive.to_ascii_uppercase();
    let Some((full, _)) = HIVES.iter().find(|(full, short)| upper == *full || upper == *short) else {
        return Err("must be a registry key starting with a root key such as HKEY_LOCAL_MACHINE or HKLM".into());
    };
    let path = path.trim_end_matches('\\');
    if path.split('\\').any(str::is_empty) && !path.is_empty() {
        return Err("must be a registry key without empty parts ('\\\\')".into());
    }
    Ok(if path.is_empty() { (*full).to_owned() } else { format!("{full}\\{}", path.to_lowercase()) })
}

/// `CVE-YYYY-NNNN`: a year from 1999 and a number of four or more digits,
/// upper-case.
fn cve(value: &str) -> Result<String, Refusal> {
    const RULE: &str = "must be a CVE id: CVE-YYYY-NNNN (a year from 1999, then four or more digits)";
    let upper = value.to_ascii_uppercase();
    let mut parts = upper.splitn(3, '-');
    let (Some("CVE"), Some(year), Some(number)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(RULE.into());
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let year_ok = year.len() == 4 && digits(year) && year >= "1999";
    if !year_ok || number.len() < 4 || number.len() > 19 || !digits(number) {
        return Err(RULE.into());
    }
    Ok(upper)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ObservableType::*;

    fn ok(kind: ObservableType, input: &str, expected: &str) {
        assert_eq!(normalize(kind, input).as_deref(), Ok(expected), "{kind:?} {input:?}");
    }

    fn refused(kind: ObservableType, input: &str) {
        let result = normalize(kind, input);
        assert!(result.is_err(), "{kind:?} {input:?} was accepted as {result:?}");
    }

    #[test]
    fn ip_addresses_print_canonically() {
        let table = [
            ("192.0.2.10", "192.0.2.10"),
            (" 10.0.0.5 ", "10.0.0.5"),
            ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
            ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("::FFFF:192.0.2.1", "::ffff:192.0.2.1"),
            ("0:0:0:0:0:0:0:1", "::1"),
            ("fe80:0:0:0:1:0:0:1", "fe80::1:0:0:1"),
        ];
        for (input, expected) in table {
            ok(IpAddress, input, expected);
        }
        for input in ["256.1.1.1", "010.0.0.1", "10.0.0", "1.2.3.4/24", "fe80::1%eth0", "1.2.3.4:80", "host", "::g"] {
            refused(IpAddress, input);
        }
    }

    #[test]
    fn domains_and_host_names_are_lower_case_ascii() {
        let table = [
            (Domain, "Evil-Corp.Example.", "evil-corp.example"),
            (Domain, "bücher.example", "xn--bcher-kva.example"),
            (Domain, "XN--BCHER-KVA.example", "xn--bcher-kva.example"),
            (Domain, "_dmarc.example.com", "_dmarc.example.com"),
            (Hostname, "WS-0421", "ws-0421"),
            (Hostname, "ws-0421.corp.example.", "ws-0421.corp.example"),
            (Hostname, "ＷＳ１.example", "ws1.example"),
        ];
        for (kind, input, expected) in table {
            ok(kind, input, expected);
        }
        let label = "a".repeat(64);
        for input in ["example", "10.0.0.1", "-bad.example", "bad-.example", "a..example", "exa mple.com", "x.123"] {
            refused(Domain, input);
        }
        refused(Domain, &format!("{label}.example"));
        refused(Hostname, "host/name");
    }

    #[test]
    fn urls_lower_case_scheme_and_host_and_drop_default_ports() {
        let table = [
            ("HTTP://Example.COM", "http://example.com/"),
            ("https://Example.com:443/a/B?q=1#Frag", "https://example.com/a/B?q=1#Frag"),
            ("https://example.com:8443/x", "https://example.com:8443/x"),
            ("http://example.com:80/", "http://example.com/"),
            ("http://bücher.example/", "http://xn--bcher-kva.example/"),
            ("http://[2001:DB8::1]:8080/", "http://[2001:db8::1]:8080/"),
            ("ftp://files.example/x.zip", "ftp://files.example/x.zip"),
        ];
        for (input, expected) in table {
            ok(Url, input, expected);
        }
        for input in ["example.com/path", "/relative", "mailto:a@example.com", "http://", "http://exa mple.com"] {
            refused(Url, input);
        }
    }

    #[test]
    fn email_addresses_are_checked_and_lower_cased() {
        ok(EmailAddress, "Alice.Smith+soc@Example.COM", "alice.smith+soc@example.com");
        ok(EmailAddress, "ops@bücher.example", "ops@xn--bcher-kva.example");
        for input in ["alice", "@example.com", "alice@", "a..b@example.com", "alice@localhost", "a b@example.com"] {
            refused(EmailAddress, input);
        }
    }

    #[test]
    fn hashes_are_hex_of_their_length_lower_cased() {
        ok(FileHashMd5, "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e");
        ok(FileHashSha1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        let sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        ok(FileHashSha256, sha256, &sha256.to_lowercase());
        refused(FileHashMd5, "d41d8cd98f00b204e9800998ecf8427");
        refused(FileHashSha1, "d41d8cd98f00b204e9800998ecf8427e");
        refused(FileHashSha256, &sha256.replace('E', "G"));
    }

    #[test]
    fn registry_keys_spell_out_the_hive() {
        ok(
            RegistryKey,
            r"HKLM\Software\Microsoft\Windows\CurrentVersion\Run\",
            r"HKEY_LOCAL_MACHINE\software\microsoft\windows\currentversion\run",
        );
        ok(RegistryKey, r"hkey_current_user\Environment", r"HKEY_CURRENT_USER\environment");
        ok(RegistryKey, "HKU", "HKEY_USERS");
        refused(RegistryKey, r"HKXX\Software");
        refused(RegistryKey, r"HKLM\Software\\Run");
    }

    #[test]
    fn cve_ids_are_upper_case() {
        ok(Cve, "cve-2021-44228", "CVE-2021-44228");
        ok(Cve, "CVE-2024-123456", "CVE-2024-123456");
        for input in ["CVE-21-44228", "CVE-2021-442", "CVE-1998-0001", "2021-44228", "CVE-2021-44228a"] {
            refused(Cve, input);
        }
    }

    #[test]
    fn text_types_keep_their_text() {
        ok(FileName, " mimikatz.EXE ", "mimikatz.EXE");
        refused(FileName, r"C:\Temp\mimikatz.exe");
        ok(UserAccount, r"CORP\JDoe", r"corp\jdoe");
        ok(Process, "powershell.exe -enc SQBFAFgA", "powershell.exe -enc SQBFAFgA");
        refused(Process, "a\nb");
        ok(Other, "anything at all", "anything at all");
    }

    #[test]
    fn every_type_refuses_blank_nul_and_oversized_values() {
        for &kind in ObservableType::ALL {
            refused(kind, "   ");
            refused(kind, "a\0b");
            refused(kind, &"a".repeat(MAX_VALUE_CHARS + 1));
        }
    }
}
