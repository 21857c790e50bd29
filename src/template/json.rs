//! Part of `template` (beside the data flow): a strict JSON parser (RFC 8259) that builds values
//! directly in the render [`Heap`], keeping object keys in document order like json-smart's ordered
//! mapper: objects become insertion-ordered maps (print Java-style), arrays become JSON lists
//! (print as JSON). Recursion is bounded.

use std::sync::Arc;

use super::value::{Heap, Value};

/// Why a document is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonError {
    Syntax(usize),
    TooDeep,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::Syntax(p) => write!(f, "invalid JSON at byte {}", p),
            JsonError::TooDeep => f.write_str("JSON nested too deeply"),
        }
    }
}

/// Parses a whole JSON document (surrounding whitespace and a UTF-8 BOM allowed).
pub(crate) fn parse(input: &[u8], heap: &mut Heap, max_depth: usize) -> Result<Value, JsonError> {
    match std::str::from_utf8(input) {
        Ok(s) => parse_str(s, heap, max_depth),
        // invalid UTF-8 becomes U+FFFD, as Java's decoder does
        Err(_) => parse_str(&String::from_utf8_lossy(input), heap, max_depth),
    }
}

fn parse_str(input: &str, heap: &mut Heap, max_depth: usize) -> Result<Value, JsonError> {
    let mut p = JsonParser {
        s: input,
        b: input.as_bytes(),
        pos: 0,
        max_depth,
        keys: Vec::new(),
        next_key: 0,
        items: Vec::new(),
        entries: Vec::new(),
    };
    if p.b.starts_with(&[0xEF, 0xBB, 0xBF]) {
        p.pos = 3;
    }
    p.ws();
    let v = p.value(heap, 0)?;
    p.ws();
    if p.pos != p.b.len() {
        return Err(JsonError::Syntax(p.pos));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    max_depth: usize,
    /// Object keys seen so far, shared: an array of like objects repeats the same few keys, and
    /// a clone of one is a count increment where a new key is an allocation.
    keys: Vec<Arc<str>>,
    /// Where in `keys` the next key is looked for first.
    next_key: usize,
    /// The items and entries of the arrays and objects being read, innermost last: each list or
    /// map is made once at its closing bracket with its exact size, instead of growing as it is
    /// read.
    items: Vec<Value>,
    entries: Vec<(Arc<str>, Value)>,
}

/// How many distinct keys a parse shares (searched linearly; longer lists cost more than they save).
const SHARED_KEYS: usize = 32;

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn err<T>(&self) -> Result<T, JsonError> {
        Err(JsonError::Syntax(self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn lit(&mut self, word: &[u8], v: Value) -> Result<Value, JsonError> {
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            self.err()
        }
    }

    fn value(&mut self, heap: &mut Heap, depth: usize) -> Result<Value, JsonError> {
        if depth > self.max_depth {
            return Err(JsonError::TooDeep);
        }
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let (id, v) = heap.new_map();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(v);
                }
                let mark = self.entries.len();
                let mut interned = true;
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return self.err();
                    }
                    let (key, shared) = self.key()?;
                    interned &= shared;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return self.err();
                    }
                    self.pos += 1;
                    self.ws();
                    let val = self.value(heap, depth + 1)?;
                    self.entries.push((key, val));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            let map = heap.map_mut(id);
                            if interned {
                                map.entries.extend_interned(self.entries.drain(mark..));
                            } else {
                                map.entries.reserve(self.entries.len() - mark);
                                for (key, val) in self.entries.drain(mark..) {
                                    map.put(key, val);
                                }
                            }
                            return Ok(v);
                        }
                        _ => return self.err(),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(heap.new_list(Vec::new(), true));
                }
                let mark = self.items.len();
                loop {
                    self.ws();
                    let item = self.value(heap, depth + 1)?;
                    self.items.push(item);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            let items: Vec<Value> = self.items.drain(mark..).collect();
                            return Ok(heap.new_list(items, true));
                        }
                        _ => return self.err(),
                    }
                }
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.lit(b"true", Value::Bool(true)),
            Some(b'f') => self.lit(b"false", Value::Bool(false)),
            Some(b'n') => self.lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err(),
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return self.err(),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.err();
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.err();
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        Ok(number_value(&self.s[start..self.pos], float))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        if self.pos + 4 > self.b.len() {
            return self.err();
        }
        let mut v = 0u32;
        for i in 0..4 {
            let d = match self.b[self.pos + i] {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(JsonError::Syntax(self.pos + i)),
            };
            v = v * 16 + u32::from(d);
        }
        self.pos += 4;
        Ok(v)
    }

    /// Parses an object key at `"`: a key without escapes is shared with the same key seen before
    /// (`true`: it is one of `keys`, so the same text is the same `Arc`).
    fn key(&mut self) -> Result<(Arc<str>, bool), JsonError> {
        let start = self.pos + 1;
        let Some(len) = self.b[start.min(self.b.len())..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        else {
            return Ok((self.string()?, false));
        };
        let end = start + len;
        if self.b[end] != b'"' {
            return Ok((self.string()?, false));
        }
        let text = &self.s[start..end];
        self.pos = end + 1;
        // Like objects list their keys in the same order: try the one after the last key first.
        if let Some(k) = self.keys.get(self.next_key).filter(|k| &***k == text) {
            self.next_key += 1;
            return Ok((k.clone(), true));
        }
        if let Some(i) = self.keys.iter().position(|k| &**k == text) {
            self.next_key = i + 1;
            return Ok((self.keys[i].clone(), true));
        }
        let k: Arc<str> = Arc::from(text);
        if self.keys.len() < SHARED_KEYS {
            self.keys.push(k.clone());
            self.next_key = self.keys.len();
            return Ok((k, true));
        }
        Ok((k, false))
    }

    /// Parses a string literal at `"`.
    fn string(&mut self) -> Result<Arc<str>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.b.len() {
            let c = self.b[self.pos];
            if c == b'"' {
                let s = Arc::from(&self.s[start..self.pos]);
                self.pos += 1;
                return Ok(s);
            }
            if c == b'\\' || c < 0x20 {
                break;
            }
            self.pos += 1;
        }
        let mut out = String::from(&self.s[start..self.pos]);
        loop {
            let run = self.pos;
            while self.pos < self.b.len() {
                let c = self.b[self.pos];
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.s[run..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Arc::from(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return self.err();
                    };
                    self.pos += 1;
                    let ch: char = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                if self.b[self.pos..].starts_with(b"\\u") {
                                    let save = self.pos;
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                        char::from_u32(c).unwrap_or('\u{FFFD}')
                                    } else {
                                        self.pos = save;
                                        '\u{FFFD}'
                                    }
                                } else {
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return Err(JsonError::Syntax(self.pos - 1)),
                    };
                    out.push(ch);
                }
                _ => return self.err(),
            }
        }
    }
}

/// A JSON number as json-smart stores it: Integer/Long, Double, or BigInteger/BigDecimal (kept
/// as text) when the value does not fit or the literal is longer than 18 characters.
pub(crate) fn number_value(text: &str, float: bool) -> Value {
    if !float {
        match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::BigNum(Arc::from(text)),
        }
    } else if text.len() > 18 {
        Value::BigNum(Arc::from(text))
    } else {
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::Float(f),
            _ => Value::BigNum(Arc::from(text)),
        }
    }
}

/// Converts a serde_json value into heap values (objects keep serde_json's key order).
pub(crate) fn from_serde(heap: &mut Heap, v: &serde_json::Value, depth: usize) -> Value {
    if depth > 256 {
        return Value::Null;
    }
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(f) = n.as_f64() {
                if n.is_u64() {
                    Value::BigNum(Arc::from(n.to_string()))
                } else {
                    Value::Float(f)
                }
            } else {
                Value::BigNum(Arc::from(n.to_string()))
            }
        }
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => {
            let items = a.iter().map(|x| from_serde(heap, x, depth + 1)).collect();
            heap.new_list(items, true)
        }
        serde_json::Value::Object(o) => {
            let (id, mv) = heap.new_map();
            for (k, x) in o {
                let val = from_serde(heap, x, depth + 1);
                heap.map_mut(id).put(Arc::from(k.as_str()), val);
            }
            mv
        }
    }
}

/// Converts a heap value into serde_json (maps become objects, numbers stay numbers). Values
/// nested deeper than 256 levels or larger than 100,000 nodes (template-made cycles) give null.
pub(crate) fn to_serde(heap: &Heap, v: &Value) -> serde_json::Value {
    let mut budget = 100_000usize;
    to_serde_inner(heap, v, 0, &mut budget).unwrap_or(serde_json::Value::Null)
}

fn to_serde_inner(
    heap: &Heap,
    v: &Value,
    depth: usize,
    budget: &mut usize,
) -> Option<serde_json::Value> {
    if depth > 256 || *budget == 0 {
        return None;
    }
    *budget -= 1;
    Some(match v {
        Value::Null | Value::Input | Value::Util | Value::Scope(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::BigNum(s) => s
            .parse::<serde_json::Number>()
            .map(serde_json::Value::Number)
            .unwrap_or_else(|_| serde_json::Value::String(s.to_string())),
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::List(id) => {
            let mut items = Vec::new();
            for x in &heap.list(*id).items {
                items.push(to_serde_inner(heap, x, depth + 1, budget)?);
            }
            serde_json::Value::Array(items)
        }
        Value::Map(id) => {
            let mut o = serde_json::Map::new();
            for (k, x) in heap.map(*id).ordered() {
                o.insert(k.to_string(), to_serde_inner(heap, x, depth + 1, budget)?);
            }
            serde_json::Value::Object(o)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) -> String {
        let mut h = Heap::default();
        let v = parse(s.as_bytes(), &mut h, 64).expect("valid");
        let mut out = String::new();
        h.write_json(&v, &mut out, 0, 64).expect("depth");
        out
    }

    #[test]
    fn parses_and_reserialises_compactly_in_order() {
        assert_eq!(
            roundtrip(
                r#" {"z": 1, "a": [true, false, null, "x\n\u00e9\ud83d\ude00"], "n": -1.5e3} "#
            ),
            r#"{"z":1,"a":[true,false,null,"x\né😀"],"n":-1500.0}"#
        );
        assert_eq!(roundtrip("\u{feff}[]"), "[]");
        assert_eq!(roundtrip("12345678901234567890"), "12345678901234567890");
        assert_eq!(
            roundtrip("3.14159265358979323846"),
            "3.14159265358979323846"
        );
        assert_eq!(roundtrip(r#"{"a":1,"a":2}"#), r#"{"a":2}"#);
        // A repeated key keeps its first position, whether the key was shared, escaped, or read
        // after the shared keys ran out.
        assert_eq!(
            roundtrip(r#"[{"a":1,"b":2,"a":3},{"b":1,"a":2,"b":4},{"\u0061":1,"a":5}]"#),
            r#"[{"a":3,"b":2},{"b":4,"a":2},{"a":5}]"#
        );
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let doc = format!("{{{},\"k39\":0,\"k1\":9}}", many.join(","));
        let expected = doc
            .replace(",\"k39\":0,\"k1\":9}", "}")
            .replace("\"k1\":1", "\"k1\":9")
            .replace("\"k39\":39", "\"k39\":0");
        assert_eq!(roundtrip(&doc), expected);
    }

    #[test]
    fn rejects_invalid_documents() {
        let mut h = Heap::default();
        for bad in [
            "",
            "not json",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "\"abc",
            "[1] x",
            "{'a':1}",
            "\"\\x\"",
            "-",
            "tru",
            "\"a\u{1}\"",
        ] {
            assert!(
                parse(bad.as_bytes(), &mut h, 64).is_err(),
                "{bad:?} should fail"
            );
        }
    }

    #[test]
    fn depth_is_bounded() {
        let mut h = Heap::default();
        let deep = "[".repeat(100_000);
        assert_eq!(
            parse(deep.as_bytes(), &mut h, 512).err(),
            Some(JsonError::TooDeep)
        );
        let ok = format!("{}{}", "[".repeat(50), "]".repeat(50));
        assert!(parse(ok.as_bytes(), &mut h, 64).is_ok());
    }

    #[test]
    fn numbers_follow_json_smart_types() {
        assert!(matches!(number_value("42", false), Value::Int(42)));
        assert!(matches!(number_value("1.5", true), Value::Float(_)));
        assert!(matches!(
            number_value("99999999999999999999", false),
            Value::BigNum(_)
        ));
    }
}
