//! Part of `template` (beside the data flow): run-time values of a render, the per-render heap that
//! holds lists and maps, and the printing rules (Java `toString()` and compact JSON).
//!
//! Lists and maps live in a per-render arena ([`Heap`]) and values refer to them by index. This
//! gives Java's reference semantics (`$m.put(..)` is seen through every alias, `$context` can be
//! written by the template and read back by the caller) without `Rc<RefCell<..>>`: no cycles to
//! leak, no borrow panics, and everything is freed at once when the render ends.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use super::numfmt::write_java_double;

/// Index of a list in the [`Heap`].
pub(crate) type ListId = u32;
/// Index of a map in the [`Heap`].
pub(crate) type MapId = u32;

/// A run-time value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// Java `null`, also an undefined reference.
    Null,
    Bool(bool),
    /// Integer/Long.
    Int(i64),
    /// Double.
    Float(f64),
    /// A number too big for `Int`/`Float` without losing digits (BigInteger / BigDecimal from a
    /// JSON document), kept as its source text.
    BigNum(Arc<str>),
    Str(Arc<str>),
    List(ListId),
    Map(MapId),
    /// `$input`
    Input,
    /// `$util`
    Util,
    /// `$foreach` of the loop at this depth in the loop stack.
    Scope(u32),
}

impl Value {
    pub(crate) fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    pub(crate) fn string(s: String) -> Value {
        Value::Str(Arc::from(s))
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub(crate) fn is_number(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Float(_) | Value::BigNum(_))
    }

    /// The number as f64 (BigNum parsed), for mixed arithmetic.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::BigNum(s) => s.parse::<f64>().ok(),
            _ => None,
        }
    }

    /// An integer argument (Java `int`/`long` parameter): integers only.
    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// A list object (Java `ArrayList`, or json-smart `JSONArray` when `json` is set: a JSONArray
/// prints as compact JSON, an ArrayList as `[a, b]`).
#[derive(Debug, Default)]
pub(crate) struct ListObj {
    pub items: Vec<Value>,
    pub json: bool,
}

/// Insertion-ordered string-keyed entries: a vector searched linearly while small, with a hash
/// index once it grows (most JSON objects are small; hashing them would cost more than it saves).
#[derive(Debug, Default)]
pub(crate) struct Entries {
    items: Vec<(Arc<str>, Value)>,
    index: Option<HashMap<Arc<str>, usize>>,
}

const INDEX_FROM: usize = 12;

impl Entries {
    fn find(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(key).copied(),
            None => self.items.iter().position(|(k, _)| &**k == key),
        }
    }

    fn rebuild_index(&mut self) {
        if self.items.len() > INDEX_FROM {
            let ix = self
                .items
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            self.index = Some(ix);
        } else {
            self.index = None;
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).map(|i| &self.items[i].1)
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    /// `put`: replaces in place (keeping the position) or appends; returns the old value.
    pub(crate) fn insert(&mut self, key: Arc<str>, value: Value) -> Option<Value> {
        if let Some(i) = self.find(&key) {
            return Some(std::mem::replace(&mut self.items[i].1, value));
        }
        let i = self.items.len();
        if let Some(ix) = self.index.as_mut() {
            ix.insert(key.clone(), i);
        }
        self.items.push((key, value));
        if self.index.is_none() && self.items.len() > INDEX_FROM {
            self.rebuild_index();
        }
        None
    }

    pub(crate) fn shift_remove(&mut self, key: &str) -> Option<Value> {
        let i = self.find(key)?;
        let (_, v) = self.items.remove(i);
        if self.index.is_some() {
            self.rebuild_index();
        }
        Some(v)
    }

    /// Fills an empty map from entries whose keys are shared (one `Arc` per distinct text), so a
    /// repeated key is found by address: a duplicate replaces the value in its first position,
    /// as `insert` does.
    pub(crate) fn extend_interned(&mut self, entries: impl ExactSizeIterator<Item = Entry>) {
        self.items.reserve_exact(entries.len());
        for (k, v) in entries {
            match self.items.iter().position(|(x, _)| Arc::ptr_eq(x, &k)) {
                Some(i) => self.items[i].1 = v,
                None => self.items.push((k, v)),
            }
        }
        self.rebuild_index();
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        self.items.reserve_exact(n);
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.index = None;
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Entries in insertion order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, (Arc<str>, Value)> {
        self.items.iter()
    }
}

/// A map object: keys in insertion order (Java `LinkedHashMap`), or, when `hash_capacity` is set,
/// iterated in Java `HashMap` order (Velocity map literals are `HashMap`s).
#[derive(Debug, Default)]
pub(crate) struct MapObj {
    pub entries: Entries,
    pub hash_capacity: Option<usize>,
}

/// One key and value of a map.
pub(crate) type Entry = (Arc<str>, Value);

/// Entries of a map in its iteration order.
pub(crate) enum Ordered<'a> {
    Linked(std::slice::Iter<'a, (Arc<str>, Value)>),
    Hashed(std::vec::IntoIter<&'a (Arc<str>, Value)>),
}

impl<'a> Iterator for Ordered<'a> {
    type Item = &'a (Arc<str>, Value);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Ordered::Linked(it) => it.next(),
            Ordered::Hashed(it) => it.next(),
        }
    }
}

impl MapObj {
    /// Insert like `Map.put`, returning the previous value.
    pub(crate) fn put(&mut self, key: Arc<str>, value: Value) -> Option<Value> {
        let prev = self.entries.insert(key, value);
        if let Some(cap) = self.hash_capacity.as_mut() {
            // java.util.HashMap doubles its table when size exceeds 0.75 * capacity.
            while self.entries.len() > *cap / 4 * 3 {
                *cap *= 2;
            }
        }
        prev
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        self.entries.shift_remove(key)
    }

    /// Entries in iteration order.
    pub(crate) fn ordered(&self) -> Ordered<'_> {
        match self.hash_capacity {
            None => Ordered::Linked(self.entries.iter()),
            Some(cap) => {
                let mask = cap.saturating_sub(1);
                let mut keyed: Vec<(usize, usize, &Entry)> = self
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        (
                            java_hash_spread(java_string_hash(&e.0)) as usize & mask,
                            i,
                            e,
                        )
                    })
                    .collect();
                keyed.sort_unstable_by_key(|&(b, i, _)| (b, i));
                Ordered::Hashed(
                    keyed
                        .into_iter()
                        .map(|(_, _, e)| e)
                        .collect::<Vec<_>>()
                        .into_iter(),
                )
            }
        }
    }
}

/// Java `String.hashCode()` (over UTF-16 code units).
pub(crate) fn java_string_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    for u in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(u));
    }
    h
}

/// `HashMap.hash()`: `h ^ (h >>> 16)`.
fn java_hash_spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

/// The per-render arena of lists and maps.
#[derive(Debug, Default)]
pub(crate) struct Heap {
    pub lists: Vec<ListObj>,
    pub maps: Vec<MapObj>,
}

/// What went wrong while printing or comparing deep values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooDeep;

impl Heap {
    pub(crate) fn new_list(&mut self, items: Vec<Value>, json: bool) -> Value {
        let id = self.lists.len() as ListId;
        self.lists.push(ListObj { items, json });
        Value::List(id)
    }

    pub(crate) fn new_map(&mut self) -> (MapId, Value) {
        let id = self.maps.len() as MapId;
        self.maps.push(MapObj::default());
        (id, Value::Map(id))
    }

    pub(crate) fn new_hash_map(&mut self) -> (MapId, Value) {
        let id = self.maps.len() as MapId;
        self.maps.push(MapObj {
            entries: Entries::default(),
            hash_capacity: Some(16),
        });
        (id, Value::Map(id))
    }

    pub(crate) fn list(&self, id: ListId) -> &ListObj {
        &self.lists[id as usize]
    }

    pub(crate) fn list_mut(&mut self, id: ListId) -> &mut ListObj {
        &mut self.lists[id as usize]
    }

    pub(crate) fn map(&self, id: MapId) -> &MapObj {
        &self.maps[id as usize]
    }

    pub(crate) fn map_mut(&mut self, id: MapId) -> &mut MapObj {
        &mut self.maps[id as usize]
    }

    /// `map.get(key)` for a map value; Null otherwise.
    pub(crate) fn map_get(&self, v: &Value, key: &str) -> Value {
        match v {
            Value::Map(id) => self
                .map(*id)
                .entries
                .get(key)
                .cloned()
                .unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// Map values in iteration order.
    pub(crate) fn map_values(&self, id: MapId) -> Vec<Value> {
        self.map(id).ordered().map(|(_, v)| v.clone()).collect()
    }

    /// Map keys in iteration order.
    pub(crate) fn map_keys(&self, id: MapId) -> Vec<Arc<str>> {
        self.map(id).ordered().map(|(k, _)| k.clone()).collect()
    }

    /// Java `toString()` of a value at the top level of a reference: null prints nothing.
    pub(crate) fn write_display(
        &self,
        v: &Value,
        out: &mut String,
        max_depth: usize,
    ) -> Result<(), TooDeep> {
        match v {
            Value::Null | Value::Input | Value::Util | Value::Scope(_) => Ok(()),
            _ => self.write_java(v, out, 0, max_depth),
        }
    }

    /// Java `toString()` (`String.valueOf`) of a value nested in a collection (null prints `null`).
    pub(crate) fn write_java(
        &self,
        v: &Value,
        out: &mut String,
        depth: usize,
        max_depth: usize,
    ) -> Result<(), TooDeep> {
        if depth > max_depth {
            return Err(TooDeep);
        }
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
            Value::Float(f) => write_java_double(out, *f),
            Value::BigNum(s) | Value::Str(s) => out.push_str(s),
            Value::List(id) => {
                let l = self.list(*id);
                if l.json {
                    return self.write_json(v, out, depth, max_depth);
                }
                out.push('[');
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    if matches!(item, Value::List(x) if x == id) {
                        out.push_str("(this Collection)");
                    } else {
                        self.write_java(item, out, depth + 1, max_depth)?;
                    }
                }
                out.push(']');
            }
            Value::Map(id) => {
                let m = self.map(*id);
                out.push('{');
                for (n, (k, val)) in m.ordered().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    if matches!(val, Value::Map(x) if x == id) {
                        out.push_str("(this Map)");
                    } else {
                        self.write_java(val, out, depth + 1, max_depth)?;
                    }
                }
                out.push('}');
            }
            Value::Input | Value::Util | Value::Scope(_) => {}
        }
        Ok(())
    }

    /// Java `toString()` as a string.
    pub(crate) fn to_java_string(&self, v: &Value, max_depth: usize) -> Result<String, TooDeep> {
        match v {
            Value::Str(s) => Ok(s.to_string()),
            _ => {
                let mut s = String::new();
                self.write_java(v, &mut s, 0, max_depth)?;
                Ok(s)
            }
        }
    }

    /// Compact JSON (json-smart style: no spaces, keys in map order).
    pub(crate) fn write_json(
        &self,
        v: &Value,
        out: &mut String,
        depth: usize,
        max_depth: usize,
    ) -> Result<(), TooDeep> {
        if depth > max_depth {
            return Err(TooDeep);
        }
        match v {
            Value::Null | Value::Input | Value::Util | Value::Scope(_) => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
            Value::Float(f) => write_java_double(out, *f),
            Value::BigNum(s) => out.push_str(s),
            Value::Str(s) => write_json_string(out, s),
            Value::List(id) => {
                out.push('[');
                for (i, item) in self.list(*id).items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.write_json(item, out, depth + 1, max_depth)?;
                }
                out.push(']');
            }
            Value::Map(id) => {
                let m = self.map(*id);
                out.push('{');
                for (n, (k, val)) in m.ordered().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    write_json_string(out, k);
                    out.push(':');
                    self.write_json(val, out, depth + 1, max_depth)?;
                }
                out.push('}');
            }
        }
        Ok(())
    }

    /// Java `equals()` between two values nested in collections (type-strict, structural).
    pub(crate) fn java_equals(
        &self,
        a: &Value,
        b: &Value,
        depth: usize,
        max_depth: usize,
    ) -> Result<bool, TooDeep> {
        if depth > max_depth {
            return Err(TooDeep);
        }
        Ok(match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || x == y,
            (Value::BigNum(x), Value::BigNum(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::List(x), Value::List(y)) => {
                if x == y {
                    return Ok(true);
                }
                let (lx, ly) = (&self.list(*x).items, &self.list(*y).items);
                if lx.len() != ly.len() {
                    return Ok(false);
                }
                for (p, q) in lx.iter().zip(ly.iter()) {
                    if !self.java_equals(p, q, depth + 1, max_depth)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Map(x), Value::Map(y)) => {
                if x == y {
                    return Ok(true);
                }
                let (mx, my) = (&self.map(*x).entries, &self.map(*y).entries);
                if mx.len() != my.len() {
                    return Ok(false);
                }
                for (k, v) in mx.iter() {
                    match my.get(k) {
                        Some(w) => {
                            if !self.java_equals(v, w, depth + 1, max_depth)? {
                                return Ok(false);
                            }
                        }
                        None => return Ok(false),
                    }
                }
                true
            }
            (Value::Input, Value::Input) | (Value::Util, Value::Util) => true,
            (Value::Scope(x), Value::Scope(y)) => x == y,
            _ => false,
        })
    }
}

/// Bytes a JSON string literal cannot hold as they are: `"`, `\\` and the control characters.
const fn json_escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}
static JSON_ESCAPE: [bool; 256] = json_escape_table();

/// Appends `s` as a JSON string literal. Most strings need no escape: they are found with one
/// table lookup per byte and copied whole.
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !JSON_ESCAPE[b as usize] {
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                let _ = write!(out, "\\u{:04X}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_java() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn hash_map_order_is_java_hashmap_order() {
        // java: new HashMap<>() with put("name"), put("id"), put("zeta"), put("b") iterates
        // in bucket order of (h ^ h>>>16) & 15.
        let mut h = Heap::default();
        let (id, _) = h.new_hash_map();
        for k in ["name", "id", "zeta", "b"] {
            h.map_mut(id).put(Arc::from(k), Value::Int(1));
        }
        let keys: Vec<String> = h.map_keys(id).iter().map(|k| k.to_string()).collect();
        let mut expected: Vec<(u32, usize, &str)> = ["name", "id", "zeta", "b"]
            .iter()
            .enumerate()
            .map(|(i, k)| (java_hash_spread(java_string_hash(k)) & 15, i, *k))
            .collect();
        expected.sort();
        let expected: Vec<String> = expected.iter().map(|(_, _, k)| k.to_string()).collect();
        assert_eq!(keys, expected);
        // "id" hashes to 3355 -> bucket 11, "b" to 98 -> bucket 2, so "b" comes before "id".
        let pos_b = keys.iter().position(|k| k == "b");
        let pos_id = keys.iter().position(|k| k == "id");
        assert!(pos_b < pos_id);
    }

    #[test]
    fn json_string_escapes() {
        let mut s = String::new();
        write_json_string(&mut s, "a\"b\\c\nd\u{1}/é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001/é\"");
    }

    #[test]
    fn printing_rules() {
        let mut h = Heap::default();
        let (m, mv) = h.new_map();
        let inner = h.new_list(vec![Value::str("x")], true);
        h.map_mut(m).put(Arc::from("k"), Value::str("v"));
        h.map_mut(m).put(Arc::from("l"), inner);
        let mut out = String::new();
        h.write_java(&mv, &mut out, 0, 10).ok();
        assert_eq!(out, "{k=v, l=[\"x\"]}");
        let jl = h.new_list(vec![mv.clone(), Value::Int(1), Value::Null], true);
        let mut out = String::new();
        h.write_java(&jl, &mut out, 0, 10).ok();
        assert_eq!(out, "[{\"k\":\"v\",\"l\":[\"x\"]},1,null]");
        let al = h.new_list(vec![mv, Value::str("s"), Value::Float(1.0)], false);
        let mut out = String::new();
        h.write_java(&al, &mut out, 0, 10).ok();
        assert_eq!(out, "[{k=v, l=[\"x\"]}, s, 1.0]");
    }

    #[test]
    fn self_containing_list_prints_java_marker_and_deep_nesting_is_bounded() {
        let mut h = Heap::default();
        let l = h.new_list(vec![], false);
        if let Value::List(id) = l {
            h.list_mut(id).items.push(Value::List(id));
        }
        let mut out = String::new();
        assert!(h.write_java(&l, &mut out, 0, 10).is_ok());
        assert_eq!(out, "[(this Collection)]");
        // JSON serialisation of a cycle hits the depth bound instead of recursing forever.
        let mut out = String::new();
        assert_eq!(h.write_json(&l, &mut out, 0, 10), Err(TooDeep));
    }
}
