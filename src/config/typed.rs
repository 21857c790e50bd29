//! Part of the first stage of the data flow: the strings of the configuration files that have a
//! syntax of their own (routes, integration URIs, sticky keys, access-log formats, addresses,
//! targets, parameter mappings) are parsed once, as the file is read, into a `Typed<T>`: the text
//! as written, its line, and what it parsed to or why it did not. `validate` reports the values
//! that did not parse; `snapshot::compile` reads the parsed values and never parses again.

use super::Problem;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

/// A value written as a string in a configuration file.
pub trait Syntax: Sized {
    /// Parses `text`; the error is the whole message a user reads (`invalid route "x": ...`).
    fn parse(text: &str) -> Result<Self, String>;
}

/// A string from a configuration file and what it parsed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed<T> {
    text: String,
    line: Option<u64>,
    parsed: Result<T, String>,
}

impl<T: Syntax> Typed<T> {
    pub fn new(text: impl Into<String>, line: Option<u64>) -> Typed<T> {
        let text = text.into();
        let parsed = T::parse(&text);
        Typed { text, line, parsed }
    }
}

impl<T> Typed<T> {
    /// A value whose syntax spans more than its own text (a mapping's key and value): `text`
    /// and `line` are the value's, `parsed` what both made.
    pub fn from_parts(text: String, line: Option<u64>, parsed: Result<T, String>) -> Typed<T> {
        Typed { text, line, parsed }
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The line it was written on, when known.
    pub fn line(&self) -> Option<u64> {
        self.line
    }

    /// The parsed value, or the message saying why there is none.
    pub fn get(&self) -> Result<&T, &str> {
        self.parsed.as_ref().map_err(String::as_str)
    }

    pub fn ok(&self) -> Option<&T> {
        self.parsed.as_ref().ok()
    }

    /// The problem to report in `file` when the value did not parse.
    pub fn problem(&self, file: &str) -> Option<Problem> {
        let e = self.parsed.as_ref().err()?;
        Some(Problem::error(file, self.line, e.clone()))
    }

    /// Says what the value belongs to in its error (`backend "orders": ...`): only the file
    /// that holds it knows. Called once, right after the file is read.
    pub(super) fn explain(&mut self, f: impl FnOnce(&str) -> String) {
        if let Err(e) = &mut self.parsed {
            *e = f(e);
        }
    }

    /// Where a value that has no position of its own was written (a listen address is on its
    /// entry's line).
    pub(super) fn place(&mut self, line: Option<u64>) {
        self.line = line;
    }
}

/// The line of a located value: serde-saphyr says 0 when it does not know.
pub fn line_of<T>(s: &Spanned<T>) -> Option<u64> {
    let l = s.referenced.line();
    (l > 0).then_some(l)
}

impl<'de, T: Syntax> Deserialize<'de> for Typed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<String>::deserialize(d)?;
        let line = line_of(&s);
        Ok(Typed::new(s.value, line))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Even(u32);

    impl Syntax for Even {
        fn parse(text: &str) -> Result<Even, String> {
            match text.parse::<u32>() {
                Ok(n) if n % 2 == 0 => Ok(Even(n)),
                _ => Err(format!("{text:?} is not even")),
            }
        }
    }

    #[derive(Debug, Deserialize)]
    struct File {
        a: Typed<Even>,
        b: Typed<Even>,
    }

    #[test]
    fn parses_once_with_the_line_and_keeps_the_error() {
        let f: File = serde_saphyr::from_str("a: \"4\"\n\nb: \"3\"\n").unwrap();
        assert_eq!(f.a.get(), Ok(&Even(4)));
        assert_eq!(f.a.line(), Some(1));
        assert_eq!(f.b.text(), "3");
        assert_eq!(f.b.get(), Err("\"3\" is not even"));
        let mut b = f.b;
        b.explain(|e| format!("field b: {e}"));
        let p = b.problem("x.yaml").unwrap();
        assert_eq!(p.to_string(), "error: x.yaml:3: field b: \"3\" is not even");
        assert!(f.a.problem("x.yaml").is_none());
    }
}
