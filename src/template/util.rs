//! Part of `template` (beside the data flow): the string functions behind `$util`:
//! Java/commons-lang semantics.

use std::fmt::Write;

use base64::Engine;

/// commons-lang `StringEscapeUtils.escapeJavaScript`: `"` `'` `\` `/` are backslash-escaped,
/// `\b \t \n \f \r` use their short escapes, other characters below 0x20 and every character
/// above 0x7f become `\uXXXX` (upper-case hex, UTF-16 code units).
pub(crate) fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8 + 2);
    for ch in s.chars() {
        match ch {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04X}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `java.net.URLEncoder.encode(s, "UTF-8")`: form encoding, space becomes `+`, only
/// `A-Z a-z 0-9 . - * _` stay as they are.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{:02X}", b);
            }
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `java.net.URLDecoder.decode(s, "UTF-8")`: `+` becomes a space, `%XX` sequences are decoded as
/// UTF-8 (malformed sequences become U+FFFD); an incomplete or non-hex escape is an error, as in
/// Java (`IllegalArgumentException`).
pub(crate) fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut pending: Vec<u8> = Vec::new();
    while i < b.len() {
        match b[i] {
            b'%' => {
                pending.clear();
                while i < b.len() && b[i] == b'%' {
                    if i + 2 >= b.len() {
                        return Err(format!(
                            "URLDecoder: Incomplete trailing escape (%) pattern in {:?}",
                            s
                        ));
                    }
                    match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                        (Some(h), Some(l)) => pending.push(h * 16 + l),
                        _ => {
                            return Err(format!(
                                "URLDecoder: Illegal hex characters in escape (%) pattern in {:?}",
                                s
                            ))
                        }
                    }
                    i += 3;
                }
                out.push_str(&String::from_utf8_lossy(&pending));
            }
            b'+' => {
                out.push(' ');
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && b[i] != b'%' && b[i] != b'+' {
                    i += 1;
                }
                out.push_str(&s[start..i]);
            }
        }
    }
    Ok(out)
}

/// Base64 (standard alphabet, padded) of the UTF-8 bytes.
pub(crate) fn base64_encode(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// Decodes standard Base64 (padding optional, ASCII whitespace ignored) and reads the bytes as
/// UTF-8 (invalid sequences become U+FFFD). Anything else is an error.
pub(crate) fn base64_decode(s: &str) -> Result<String, String> {
    let cleaned: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let cleaned: &[u8] = {
        let mut end = cleaned.len();
        while end > 0 && cleaned[end - 1] == b'=' {
            end -= 1;
        }
        &cleaned[..end]
    };
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    match engine.decode(cleaned) {
        Ok(bytes) => Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        Err(e) => Err(format!("invalid base64: {}", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_javascript_follows_commons_lang() {
        assert_eq!(escape_javascript("it's"), "it\\'s");
        assert_eq!(escape_javascript("\"\""), "\\\"\\\"");
        assert_eq!(escape_javascript("{\"foo\": 123}"), "{\\\"foo\\\": 123}");
        assert_eq!(escape_javascript("a/b\\c"), "a\\/b\\\\c");
        assert_eq!(
            escape_javascript("\n\t\r\u{8}\u{c}\u{1}"),
            "\\n\\t\\r\\b\\f\\u0001"
        );
        assert_eq!(
            escape_javascript("é€😀\u{7f}"),
            "\\u00E9\\u20AC\\uD83D\\uDE00\u{7f}"
        );
        assert_eq!(escape_javascript("0010"), "0010");
    }

    #[test]
    fn url_encode_is_form_encoding() {
        assert_eq!(
            url_encode("{\"some\": \"value\"}"),
            "%7B%22some%22%3A+%22value%22%7D"
        );
        assert_eq!(url_encode("x=a+b"), "x%3Da%2Bb");
        assert_eq!(url_encode("a.b-c*d_e~f"), "a.b-c*d_e%7Ef");
        assert_eq!(url_encode("é"), "%C3%A9");
        assert_eq!(url_encode("{}"), "%7B%7D");
    }

    #[test]
    fn url_decode_like_java() {
        assert_eq!(url_decode("x=a+b").as_deref(), Ok("x=a b"));
        assert_eq!(url_decode("%C3%A9%20x").as_deref(), Ok("é x"));
        assert_eq!(url_decode("a%2").map_err(|_| ()), Err(()));
        assert_eq!(url_decode("a%").map_err(|_| ()), Err(()));
        assert_eq!(url_decode("%zz").map_err(|_| ()), Err(()));
        assert_eq!(url_decode("%FF").as_deref(), Ok("\u{FFFD}"));
        assert_eq!(url_decode("plain").as_deref(), Ok("plain"));
    }

    #[test]
    fn base64_both_ways() {
        assert_eq!(base64_encode("{\"foo\": \"bar1\"}"), "eyJmb28iOiAiYmFyMSJ9");
        assert_eq!(
            base64_decode("eyJtZXNzYWdlIjogInBhdGgxIn0=").as_deref(),
            Ok("{\"message\": \"path1\"}")
        );
        assert_eq!(base64_decode("aGk").as_deref(), Ok("hi"));
        assert_eq!(base64_decode("aG\nk=").as_deref(), Ok("hi"));
        assert!(base64_decode("a$b").is_err());
        assert_eq!(base64_decode("").as_deref(), Ok(""));
    }
}
