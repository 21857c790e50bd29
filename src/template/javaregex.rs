//! Part of `template` (beside the data flow): Java regular expressions
//! (`String.replaceAll/replaceFirst/matches/split`) on top of the `regex` crate: the pattern is
//! translated (ASCII `\d \w \s \b` as in Java, `\Q..\E`, POSIX `\p{Alpha}` classes, Java escapes),
//! and the replacement string follows `Matcher.appendReplacement` (`$1`, `${name}`, `\$`).
//! Constructs the `regex` crate cannot run (look-around, back-references) make the pattern invalid;
//! the template then fails when that call runs, as a Java `PatternSyntaxException` would have made
//! it fail for a genuinely bad pattern.

use std::fmt::Write;

use regex::{Regex, RegexBuilder};

/// Default compiled-size limit of a regex.
pub(crate) const DEFAULT_REGEX_SIZE: usize = 1 << 20;

/// A compiled Java pattern: `find` for searching, `whole` (anchored) for `matches()`.
#[derive(Debug)]
pub(crate) struct JavaRegex {
    pub find: Regex,
    pub whole: Regex,
}

impl JavaRegex {
    pub(crate) fn new(pattern: &str, size_limit: usize) -> Result<JavaRegex, String> {
        let translated = translate(pattern)?;
        let build = |p: &str| {
            RegexBuilder::new(p)
                .size_limit(size_limit)
                .dfa_size_limit(size_limit)
                .nest_limit(100)
                .build()
                .map_err(|e| format!("invalid regex {:?}: {}", pattern, e))
        };
        let find = build(&translated)?;
        let whole = build(&format!("\\A(?:{})\\z", translated))?;
        Ok(JavaRegex { find, whole })
    }
}

fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "Lower" => "a-z",
        "Upper" => "A-Z",
        "ASCII" => "\\x00-\\x7F",
        "Alpha" => "a-zA-Z",
        "Digit" => "0-9",
        "Alnum" => "a-zA-Z0-9",
        "Punct" => "!-/:-@\\[-`{-~",
        "Graph" => "!-~",
        "Print" => " -~",
        "Blank" => " \\t",
        "Cntrl" => "\\x00-\\x1F\\x7F",
        "XDigit" => "0-9a-fA-F",
        "Space" => " \\t\\n\\x0B\\f\\r",
        "javaLowerCase" => "\\p{Ll}",
        "javaUpperCase" => "\\p{Lu}",
        "javaWhitespace" => "\\s",
        _ => return None,
    })
}

fn push_escaped_char(out: &mut String, c: char) {
    let _ = write!(out, "\\x{{{:X}}}", c as u32);
}

/// Translates a Java regex into `regex` crate syntax.
pub(crate) fn translate(p: &str) -> Result<String, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut class_depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(format!("unexpected end of regex {:?}", p));
                };
                i += 2;
                let in_class = class_depth > 0;
                match n {
                    'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                    'D' => out.push_str(if in_class { "\\D" } else { "[^0-9]" }),
                    'w' => out.push_str(if in_class { "a-zA-Z0-9_" } else { "[a-zA-Z0-9_]" }),
                    'W' => out.push_str(if in_class { "\\W" } else { "[^a-zA-Z0-9_]" }),
                    's' => out.push_str(if in_class {
                        " \\t\\n\\x0B\\f\\r"
                    } else {
                        "[ \\t\\n\\x0B\\f\\r]"
                    }),
                    'S' => out.push_str(if in_class { "\\S" } else { "[^ \\t\\n\\x0B\\f\\r]" }),
                    'b' if !in_class => out.push_str("(?-u:\\b)"),
                    'B' if !in_class => out.push_str("(?-u:\\B)"),
                    'A' | 'z' => {
                        out.push('\\');
                        out.push(n);
                    }
                    'Z' => out.push_str("\\z"),
                    'G' => return Err("\\G is not supported".into()),
                    'h' => out.push_str(if in_class {
                        " \\t\\xA0\\x{1680}\\x{180e}\\x{2000}-\\x{200a}\\x{202f}\\x{205f}\\x{3000}"
                    } else {
                        "[ \\t\\xA0\\x{1680}\\x{180e}\\x{2000}-\\x{200a}\\x{202f}\\x{205f}\\x{3000}]"
                    }),
                    'v' => out.push_str(if in_class {
                        "\\n\\x0B\\f\\r\\x{85}\\x{2028}\\x{2029}"
                    } else {
                        "[\\n\\x0B\\f\\r\\x{85}\\x{2028}\\x{2029}]"
                    }),
                    'R' if !in_class => {
                        out.push_str("(?:\\r\\n|[\\n\\x0B\\f\\r\\x{85}\\x{2028}\\x{2029}])")
                    }
                    't' | 'n' | 'r' | 'f' => {
                        out.push('\\');
                        out.push(n);
                    }
                    'a' => out.push_str("\\x07"),
                    'e' => out.push_str("\\x1B"),
                    '0' => {
                        let mut v: u32 = 0;
                        let mut k = 0;
                        while k < 3 {
                            match chars.get(i).and_then(|d| d.to_digit(8)) {
                                Some(d) if v * 8 + d <= 0o377 => {
                                    v = v * 8 + d;
                                    i += 1;
                                    k += 1;
                                }
                                _ => break,
                            }
                        }
                        if k == 0 {
                            return Err("illegal octal escape".into());
                        }
                        let _ = write!(out, "\\x{{{:X}}}", v);
                    }
                    'x' => {
                        out.push_str("\\x");
                        if chars.get(i) == Some(&'{') {
                            while i < chars.len() {
                                out.push(chars[i]);
                                i += 1;
                                if chars[i - 1] == '}' {
                                    break;
                                }
                            }
                        } else {
                            for _ in 0..2 {
                                match chars.get(i) {
                                    Some(h) if h.is_ascii_hexdigit() => {
                                        out.push(*h);
                                        i += 1;
                                    }
                                    _ => return Err("illegal hexadecimal escape".into()),
                                }
                            }
                        }
                    }
                    'u' => {
                        let hex: String = chars.iter().skip(i).take(4).collect();
                        if hex.len() != 4 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                            return Err("illegal unicode escape".into());
                        }
                        i += 4;
                        let _ = write!(out, "\\x{{{}}}", hex);
                    }
                    'c' => {
                        let Some(&x) = chars.get(i) else {
                            return Err("illegal control escape".into());
                        };
                        i += 1;
                        let _ = write!(out, "\\x{{{:X}}}", (x as u32) ^ 64);
                    }
                    'p' | 'P' => {
                        let neg = n == 'P';
                        let name: String = if chars.get(i) == Some(&'{') {
                            let mut s = String::new();
                            i += 1;
                            while i < chars.len() && chars[i] != '}' {
                                s.push(chars[i]);
                                i += 1;
                            }
                            if i >= chars.len() {
                                return Err("unclosed character family".into());
                            }
                            i += 1;
                            s
                        } else {
                            let Some(&x) = chars.get(i) else {
                                return Err("illegal character family".into());
                            };
                            i += 1;
                            x.to_string()
                        };
                        let base = name.strip_prefix("Is").unwrap_or(&name);
                        if let Some(cls) = posix_class(base) {
                            if in_class && !neg {
                                out.push_str(cls);
                            } else {
                                out.push('[');
                                if neg {
                                    out.push('^');
                                }
                                out.push_str(cls);
                                out.push(']');
                            }
                        } else {
                            let base = match base {
                                "Alphabetic" => "Alphabetic",
                                "L" | "Letter" => "L",
                                other => other,
                            };
                            out.push('\\');
                            out.push(n);
                            out.push('{');
                            out.push_str(base);
                            out.push('}');
                        }
                    }
                    'Q' => {
                        while i < chars.len() {
                            if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                                i += 2;
                                break;
                            }
                            push_escaped_char(&mut out, chars[i]);
                            i += 1;
                        }
                    }
                    'E' => {}
                    '1'..='9' | 'k' => {
                        return Err("back-references are not supported".into());
                    }
                    x if x.is_ascii_alphanumeric() => {
                        return Err(format!("illegal escape \\{} in regex", x));
                    }
                    x => push_escaped_char(&mut out, x),
                }
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
                i += 1;
            }
            '(' if class_depth == 0 => {
                i += 1;
                if chars.get(i) == Some(&'?') {
                    match chars.get(i + 1) {
                        Some('=') | Some('!') => {
                            return Err("look-ahead is not supported".into());
                        }
                        Some('<') if matches!(chars.get(i + 2), Some('=') | Some('!')) => {
                            return Err("look-behind is not supported".into());
                        }
                        Some('>') => {
                            // atomic group: approximated by a plain group
                            out.push_str("(?:");
                            i += 2;
                        }
                        Some('<') => {
                            out.push_str("(?<");
                            i += 2;
                        }
                        _ => {
                            // inline flags: (?flags) or (?flags:...)
                            i += 1;
                            let mut flags = String::new();
                            loop {
                                match chars.get(i) {
                                    Some(&f) if matches!(f, 'i' | 'm' | 's' | 'x' | '-') => {
                                        flags.push(f);
                                        i += 1;
                                    }
                                    Some('u' | 'd' | 'U' | 'c') => i += 1,
                                    Some(':') => {
                                        i += 1;
                                        let flags = clean_flags(&flags);
                                        out.push_str("(?");
                                        out.push_str(&flags);
                                        out.push(':');
                                        break;
                                    }
                                    Some(')') => {
                                        i += 1;
                                        let flags = clean_flags(&flags);
                                        if !flags.is_empty() {
                                            out.push_str("(?");
                                            out.push_str(&flags);
                                            out.push(')');
                                        }
                                        break;
                                    }
                                    _ => return Err("unknown inline flag".into()),
                                }
                            }
                        }
                    }
                } else {
                    out.push('(');
                }
            }
            '+' | '*' | '?' | '}' if class_depth == 0 => {
                out.push(c);
                i += 1;
                // possessive quantifier: approximated by the greedy one
                if chars.get(i) == Some(&'+') {
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// One piece of a Java replacement string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplPiece {
    Lit(String),
    /// `$` followed by these digits; how many of them belong to the group number depends on the
    /// pattern's group count, as in Java.
    Group(String),
    Named(String),
}

/// A parsed replacement string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replacement {
    pub pieces: Vec<ReplPiece>,
}

impl Replacement {
    pub(crate) fn parse(s: &str) -> Result<Replacement, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '\\' => match it.next() {
                    Some(x) => lit.push(x),
                    None => return Err("character to be escaped is missing".into()),
                },
                '$' => {
                    if !lit.is_empty() {
                        pieces.push(ReplPiece::Lit(std::mem::take(&mut lit)));
                    }
                    match it.peek() {
                        Some('{') => {
                            it.next();
                            let mut name = String::new();
                            loop {
                                match it.next() {
                                    Some('}') => break,
                                    Some(x) if x.is_ascii_alphanumeric() => name.push(x),
                                    _ => {
                                        return Err(
                                            "named capturing group is missing trailing '}'".into()
                                        )
                                    }
                                }
                            }
                            if name.is_empty() || name.starts_with(|x: char| x.is_ascii_digit()) {
                                return Err("named capturing group has 0 length name".into());
                            }
                            pieces.push(ReplPiece::Named(name));
                        }
                        Some(d) if d.is_ascii_digit() => {
                            let mut digits = String::new();
                            while let Some(d) = it.peek() {
                                if d.is_ascii_digit() {
                                    digits.push(*d);
                                    it.next();
                                } else {
                                    break;
                                }
                            }
                            pieces.push(ReplPiece::Group(digits));
                        }
                        _ => return Err("Illegal group reference".into()),
                    }
                }
                _ => lit.push(c),
            }
        }
        if !lit.is_empty() {
            pieces.push(ReplPiece::Lit(lit));
        }
        Ok(Replacement { pieces })
    }

    fn expand(
        &self,
        caps: &regex::Captures<'_>,
        group_count: usize,
        out: &mut String,
    ) -> Result<(), String> {
        for p in &self.pieces {
            match p {
                ReplPiece::Lit(s) => out.push_str(s),
                ReplPiece::Group(digits) => {
                    let bytes = digits.as_bytes();
                    let mut num = usize::from(bytes[0] - b'0');
                    if num > group_count {
                        return Err(format!("No group {}", num));
                    }
                    let mut k = 1;
                    while k < bytes.len() {
                        let next = num * 10 + usize::from(bytes[k] - b'0');
                        if next > group_count {
                            break;
                        }
                        num = next;
                        k += 1;
                    }
                    if let Some(m) = caps.get(num) {
                        out.push_str(m.as_str());
                    }
                    out.push_str(&digits[k..]);
                }
                ReplPiece::Named(name) => {
                    if let Some(m) = caps.name(name) {
                        out.push_str(m.as_str());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Drops a dangling `-` (e.g. from `(?-u)` once `u` is removed).
fn clean_flags(flags: &str) -> String {
    let mut f = flags.to_string();
    while f.ends_with('-') {
        f.pop();
    }
    f
}

/// `Matcher.replaceAll` / `replaceFirst`. `budget` bounds the output size.
pub(crate) fn replace(
    re: &Regex,
    input: &str,
    repl: &Replacement,
    all: bool,
    budget: usize,
) -> Result<String, String> {
    let group_count = re.captures_len().saturating_sub(1);
    let names: Vec<&str> = re.capture_names().flatten().collect();
    for p in &repl.pieces {
        if let ReplPiece::Named(n) = p {
            if !names.contains(&n.as_str()) {
                return Err(format!("No group with name {{{}}}", n));
            }
        }
    }
    let mut out = String::with_capacity(input.len());
    let mut last = 0;
    for caps in re.captures_iter(input) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&input[last..m.start()]);
        repl.expand(&caps, group_count, &mut out)?;
        last = m.end();
        if out.len() > budget {
            return Err("string size limit exceeded".into());
        }
        if !all {
            break;
        }
    }
    out.push_str(&input[last..]);
    Ok(out)
}

/// `String.split(regex, limit)` with Java's rules: no leading empty string for a zero-width
/// match at the start, trailing empty strings removed when `limit == 0`.
pub(crate) fn split(re: &Regex, input: &str, limit: i64) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut index = 0usize;
    let limited = limit > 0;
    for m in re.find_iter(input) {
        if limited && parts.len() as i64 >= limit - 1 {
            break;
        }
        if index == 0 && m.start() == 0 && m.end() == 0 {
            continue;
        }
        parts.push(input[index..m.start()].to_string());
        index = m.end();
    }
    if index == 0 && parts.is_empty() {
        return vec![input.to_string()];
    }
    parts.push(input[index..].to_string());
    if limit == 0 {
        while parts.last().is_some_and(|s| s.is_empty()) {
            parts.pop();
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> JavaRegex {
        JavaRegex::new(p, DEFAULT_REGEX_SIZE).expect("valid regex")
    }

    fn replace_all(p: &str, input: &str, r: &str) -> Result<String, String> {
        let rx = re(p);
        let repl = Replacement::parse(r)?;
        replace(&rx.find, input, &repl, true, usize::MAX)
    }

    #[test]
    fn replace_all_with_groups() {
        assert_eq!(
            replace_all("(\\w+)@(\\w+)", "a@b c@d", "$2 at $1").as_deref(),
            Ok("b at a d at c")
        );
        assert_eq!(replace_all("a", "banana", "\\$").as_deref(), Ok("b$n$n$"));
        assert_eq!(
            replace_all("(a)", "banana", "$1x").as_deref(),
            Ok("baxnaxnax")
        );
        assert_eq!(replace_all("(a)", "ba", "$12").as_deref(), Ok("ba2"));
        assert!(replace_all("(a)", "ba", "$2").is_err());
        assert!(replace_all("a", "ba", "$x").is_err());
        assert_eq!(
            replace_all("(?<x>a)", "ba", "[${x}]").as_deref(),
            Ok("b[a]")
        );
        assert_eq!(replace_all("", "abc", "-").as_deref(), Ok("-a-b-c-"));
        // The AWS docs' advice for escapeJavaScript output: .replaceAll("\\'","'")
        assert_eq!(replace_all("\\\\'", "it\\'s", "'").as_deref(), Ok("it's"));
        assert_eq!(replace_all("\\'", "it's", "Q").as_deref(), Ok("itQs"));
    }

    #[test]
    fn java_classes_are_ascii() {
        assert!(re("\\w+").whole.is_match("abc_1"));
        assert!(!re("\\w+").whole.is_match("é"));
        assert!(re("\\d{3}").whole.is_match("123"));
        assert!(!re("\\d").whole.is_match("٣"));
        assert!(re("\\p{Alpha}+").whole.is_match("abc"));
        assert!(re("[\\p{Digit}x]+").whole.is_match("1x2"));
        assert!(re("\\Qa.b\\E").whole.is_match("a.b"));
        assert!(!re("\\Qa.b\\E").whole.is_match("axb"));
        assert!(re("(?i)abc").whole.is_match("ABC"));
        assert!(re("a\\bb").find.is_match("a b") || !re("a\\bb").find.is_match("ab"));
        assert!(re("\\u0041").whole.is_match("A"));
        assert!(re("\\x41\\0101").whole.is_match("AA"));
    }

    #[test]
    fn unsupported_constructs_are_errors() {
        assert!(JavaRegex::new("(?=a)", DEFAULT_REGEX_SIZE).is_err());
        assert!(JavaRegex::new("(a)\\1", DEFAULT_REGEX_SIZE).is_err());
        assert!(JavaRegex::new("(", DEFAULT_REGEX_SIZE).is_err());
        assert!(JavaRegex::new("a{99999}{99999}", 1000).is_err());
    }

    #[test]
    fn split_like_java() {
        let s = |p: &str, i: &str, l: i64| split(&re(p).find, i, l);
        assert_eq!(s(",", "a,b,,c,,", 0), vec!["a", "b", "", "c"]);
        assert_eq!(s(",", "a,b,,c,,", -1), vec!["a", "b", "", "c", "", ""]);
        assert_eq!(s(",", "a,b,c", 2), vec!["a", "b,c"]);
        assert_eq!(s(",", ",a", 0), vec!["", "a"]);
        assert_eq!(s("", "abc", 0), vec!["a", "b", "c"]);
        assert_eq!(s("x", "abc", 0), vec!["abc"]);
        assert_eq!(s(",", "", 0), vec![""]);
        assert_eq!(s("\\s+", "a  b c", 0), vec!["a", "b", "c"]);
    }
}
