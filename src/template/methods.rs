//! Part of `template` (beside the data flow): method calls: the Java methods templates use on
//! strings, lists, maps and numbers, plus `$input`, `$util` and `$foreach`. Unknown methods give
//! null (Velocity logs and renders nothing); what would throw in Java (index out of bounds, null
//! argument, bad regex) is a render error. String indices are UTF-16 code units, as in Java.

use std::sync::Arc;

use super::ast::{MethodCall, Pre};
use super::error::LimitKind;
use super::error::RenderError;
use super::javaregex::{self, JavaRegex, Replacement};
use super::json;
use super::jsonpath::JsonPath;
use super::runtime::{limit, num_cmp, Rt};
use super::util;
use super::value::Value;

type R = Result<Value, RenderError>;

/// Java `void` methods return "" in Velocity (so `$list.add(0, $x)` renders nothing).
fn void() -> Value {
    Value::str("")
}

pub(crate) fn call(rt: &mut Rt<'_>, recv: Value, m: &MethodCall, args: Vec<Value>) -> R {
    let name: &str = &m.name;
    match &recv {
        Value::Input => input_method(rt, m, name, &args),
        Value::Util => util_method(rt, m, name, &args),
        Value::Scope(d) => Ok(scope_method(rt, *d, name, &args)),
        Value::Str(s) => {
            let s = s.clone();
            string_method(rt, m, &s, name, &args)
        }
        Value::List(id) => list_method(rt, m, *id, name, args),
        Value::Map(id) => map_method(rt, m, *id, name, args),
        Value::Int(_) | Value::Float(_) | Value::BigNum(_) => number_method(rt, &recv, name, &args),
        Value::Bool(b) => Ok(match (name, args.len()) {
            ("toString", 0) => Value::str(if *b { "true" } else { "false" }),
            ("booleanValue", 0) => Value::Bool(*b),
            ("equals", 1) => Value::Bool(matches!(&args[0], Value::Bool(x) if x == b)),
            ("hashCode", 0) => Value::Int(if *b { 1231 } else { 1237 }),
            _ => Value::Null,
        }),
        Value::Null => Ok(Value::Null),
    }
}

fn path_arg(
    rt: &Rt<'_>,
    m: &MethodCall,
    arg: &Value,
) -> Result<Option<Arc<JsonPath>>, RenderError> {
    if let Some(Pre::Path(p)) = &m.pre {
        return match p {
            Ok(path) => Ok(Some(path.clone())),
            Err(e) => Err(rt.err(m.pos, e.clone())),
        };
    }
    let s = match arg {
        Value::Str(s) => s.clone(),
        Value::Null => return Ok(None),
        other => Arc::from(rt.to_string(other)?),
    };
    match JsonPath::parse(&s) {
        Ok(p) => Ok(Some(Arc::new(p))),
        Err(e) => Err(rt.err(m.pos, e)),
    }
}

fn input_method(rt: &mut Rt<'_>, m: &MethodCall, name: &str, args: &[Value]) -> R {
    match (name, args.len()) {
        ("json", 1) => match path_arg(rt, m, &args[0])? {
            Some(p) => rt.input_json(&p),
            None => Ok(Value::Null),
        },
        ("path", 1) => match path_arg(rt, m, &args[0])? {
            Some(p) => rt.input_path(&p),
            None => Ok(Value::Null),
        },
        ("params", 0) => Ok(rt.params_map()),
        ("params", 1) => match &args[0] {
            Value::Null => Ok(Value::Null),
            Value::Str(s) => Ok(rt.param(s)),
            other => {
                let s = rt.to_string(other)?;
                Ok(rt.param(&s))
            }
        },
        ("getBody" | "body", 0) => Ok(rt.body_str()),
        _ => Ok(Value::Null),
    }
}

fn util_method(rt: &mut Rt<'_>, m: &MethodCall, name: &str, args: &[Value]) -> R {
    if args.len() != 1 {
        return Ok(Value::Null);
    }
    let s: Arc<str> = match &args[0] {
        Value::Null => return Ok(Value::Null),
        Value::Str(s) => s.clone(),
        Value::List(_) | Value::Map(_) if name == "parseJson" => return Ok(args[0].clone()),
        other => Arc::from(rt.to_string(other)?),
    };
    rt.work(s.len())?;
    match name {
        "escapeJavaScript" => rt.new_str(util::escape_javascript(&s)),
        "urlEncode" => rt.new_str(util::url_encode(&s)),
        "urlDecode" => match util::url_decode(&s) {
            Ok(d) => rt.new_str(d),
            Err(e) => Err(rt.err(m.pos, e)),
        },
        "base64Encode" => rt.new_str(util::base64_encode(&s)),
        "base64Decode" => match util::base64_decode(&s) {
            Ok(d) => rt.new_str(d),
            Err(e) => Err(rt.err(m.pos, e)),
        },
        "parseJson" => {
            let depth = rt.lim.max_render_depth;
            match json::parse(s.as_bytes(), &mut rt.heap, depth) {
                Ok(v) => Ok(v),
                Err(json::JsonError::TooDeep) => Err(limit(LimitKind::Depth)),
                Err(e) => Err(rt.err(m.pos, format!("$util.parseJson: {}", e))),
            }
        }
        _ => Ok(Value::Null),
    }
}

fn scope_method(rt: &mut Rt<'_>, d: u32, name: &str, args: &[Value]) -> Value {
    if !args.is_empty() {
        return Value::Null;
    }
    let prop = match name {
        "getIndex" => "index",
        "getCount" => "count",
        "hasNext" | "getHasNext" => "hasNext",
        "isFirst" | "getFirst" => "first",
        "isLast" | "getLast" => "last",
        "getParent" => "parent",
        "getTopmost" => "topmost",
        _ => return Value::Null,
    };
    rt.scope_property(d, prop)
}

// ---------- strings ----------

fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

/// Byte offset of UTF-16 index `i` (rounded up to a char boundary); None when past the end.
fn byte_of(s: &str, i: usize) -> Option<usize> {
    if s.is_ascii() {
        return (i <= s.len()).then_some(i);
    }
    let mut u = 0usize;
    for (b, c) in s.char_indices() {
        if u >= i {
            return Some(b);
        }
        u += c.len_utf16();
    }
    (i <= u).then_some(s.len())
}

fn utf16_of(s: &str, byte: usize) -> usize {
    if s.is_ascii() {
        byte
    } else {
        s[..byte].encode_utf16().count()
    }
}

/// A CharSequence argument: strings as they are, scalars by their string, null is an NPE.
fn str_arg(rt: &Rt<'_>, m: &MethodCall, v: &Value) -> Result<Option<Arc<str>>, RenderError> {
    match v {
        Value::Str(s) => Ok(Some(s.clone())),
        Value::Null => Err(rt.err(m.pos, format!("NullPointerException in {}()", m.name))),
        Value::Int(_) | Value::Float(_) | Value::BigNum(_) | Value::Bool(_) => {
            Ok(Some(Arc::from(rt.to_string(v)?)))
        }
        _ => Ok(None),
    }
}

fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

fn regex_for(
    rt: &mut Rt<'_>,
    m: &MethodCall,
    pattern: &str,
) -> Result<Arc<JavaRegex>, RenderError> {
    if let Some(Pre::Regex(pre)) = &m.pre {
        return match &pre.regex {
            Ok(r) => Ok(r.clone()),
            Err(e) => Err(rt.err(m.pos, format!("PatternSyntaxException: {}", e))),
        };
    }
    rt.work(pattern.len() * 16)?;
    rt.dynamic_regex(pattern)
        .map_err(|e| rt.err(m.pos, format!("PatternSyntaxException: {}", e)))
}

fn replacement_for(rt: &Rt<'_>, m: &MethodCall, repl: &str) -> Result<Replacement, RenderError> {
    if let Some(Pre::Regex(pre)) = &m.pre {
        if let Some(r) = &pre.replacement {
            return r.clone().map_err(|e| rt.err(m.pos, e));
        }
    }
    Replacement::parse(repl).map_err(|e| rt.err(m.pos, e))
}

fn out_of_bounds(rt: &Rt<'_>, m: &MethodCall, what: String) -> RenderError {
    rt.err(m.pos, format!("StringIndexOutOfBoundsException: {}", what))
}

fn string_method(rt: &mut Rt<'_>, m: &MethodCall, s: &Arc<str>, name: &str, args: &[Value]) -> R {
    rt.work(s.len())?;
    let int = |i: usize| args.get(i).and_then(|v| v.as_int());
    match (name, args.len()) {
        ("length", 0) => Ok(Value::Int(utf16_len(s) as i64)),
        ("isEmpty", 0) => Ok(Value::Bool(s.is_empty())),
        ("isBlank", 0) => Ok(Value::Bool(s.chars().all(char::is_whitespace))),
        ("toString" | "intern", 0) => Ok(Value::Str(s.clone())),
        ("trim", 0) => Ok(Value::str(java_trim(s))),
        ("strip", 0) => Ok(Value::str(s.trim())),
        ("toLowerCase", 0 | 1) => rt.new_str(s.to_lowercase()),
        ("toUpperCase", 0 | 1) => rt.new_str(s.to_uppercase()),
        ("hashCode", 0) => Ok(Value::Int(i64::from(super::value::java_string_hash(s)))),
        ("substring", 1 | 2) => {
            let len = utf16_len(s) as i64;
            let Some(a) = int(0) else {
                return Ok(Value::Null);
            };
            let b = if args.len() == 2 {
                match int(1) {
                    Some(b) => b,
                    None => return Ok(Value::Null),
                }
            } else {
                len
            };
            if a < 0 || b > len || a > b {
                return Err(out_of_bounds(
                    rt,
                    m,
                    format!("begin {}, end {}, length {}", a, b, len),
                ));
            }
            let (Some(x), Some(y)) = (byte_of(s, a as usize), byte_of(s, b as usize)) else {
                return Ok(Value::Null);
            };
            rt.new_str(s[x..y].to_string())
        }
        ("charAt", 1) => {
            let Some(i) = int(0) else {
                return Ok(Value::Null);
            };
            let len = utf16_len(s) as i64;
            if i < 0 || i >= len {
                return Err(out_of_bounds(rt, m, format!("index {}, length {}", i, len)));
            }
            let Some(b) = byte_of(s, i as usize) else {
                return Ok(Value::Null);
            };
            Ok(match s[b..].chars().next() {
                Some(c) => Value::string(c.to_string()),
                None => Value::Null,
            })
        }
        ("indexOf" | "lastIndexOf", 1 | 2) => {
            let needle: Arc<str> = match &args[0] {
                Value::Int(c) => match u32::try_from(*c).ok().and_then(char::from_u32) {
                    Some(ch) => Arc::from(ch.to_string()),
                    None => return Ok(Value::Int(-1)),
                },
                v => match str_arg(rt, m, v)? {
                    Some(x) => x,
                    None => return Ok(Value::Null),
                },
            };
            let len = utf16_len(s) as i64;
            let found = if name == "indexOf" {
                let from = if args.len() == 2 {
                    int(1).unwrap_or(0)
                } else {
                    0
                }
                .max(0);
                if from > len {
                    None
                } else {
                    let start = byte_of(s, from as usize).unwrap_or(s.len());
                    s[start..].find(&*needle).map(|p| p + start)
                }
            } else {
                let from = if args.len() == 2 {
                    int(1).unwrap_or(len)
                } else {
                    len
                };
                if from < 0 {
                    None
                } else {
                    let from = from.min(len) as usize;
                    let limit = byte_of(s, from).unwrap_or(s.len());
                    let end = (limit + needle.len()).min(s.len());
                    let mut end = end;
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    s[..end].rfind(&*needle)
                }
            };
            Ok(Value::Int(match found {
                Some(b) => utf16_of(s, b) as i64,
                None => -1,
            }))
        }
        ("contains" | "startsWith" | "endsWith" | "concat", 1) | ("startsWith", 2) => {
            let Some(x) = str_arg(rt, m, &args[0])? else {
                return Ok(Value::Null);
            };
            Ok(match name {
                "contains" => Value::Bool(s.contains(&*x)),
                "startsWith" => {
                    let off = if args.len() == 2 {
                        int(1).unwrap_or(0)
                    } else {
                        0
                    };
                    if off < 0 {
                        Value::Bool(false)
                    } else {
                        match byte_of(s, off as usize) {
                            Some(b) => Value::Bool(s[b..].starts_with(&*x)),
                            None => Value::Bool(false),
                        }
                    }
                }
                "endsWith" => Value::Bool(s.ends_with(&*x)),
                _ => {
                    let mut out = String::with_capacity(s.len() + x.len());
                    out.push_str(s);
                    out.push_str(&x);
                    return rt.new_str(out);
                }
            })
        }
        ("equals", 1) => Ok(Value::Bool(matches!(&args[0], Value::Str(x) if x == s))),
        ("equalsIgnoreCase", 1) => Ok(Value::Bool(match &args[0] {
            Value::Str(x) => {
                x.chars().count() == s.chars().count()
                    && x.chars().zip(s.chars()).all(|(a, b)| {
                        a == b
                            || a.to_uppercase().eq(b.to_uppercase())
                            || a.to_lowercase().eq(b.to_lowercase())
                    })
            }
            _ => false,
        })),
        ("compareTo" | "compareToIgnoreCase", 1) => {
            let Some(x) = str_arg(rt, m, &args[0])? else {
                return Ok(Value::Null);
            };
            let (a, b) = if name == "compareTo" {
                (s.to_string(), x.to_string())
            } else {
                (s.to_lowercase(), x.to_lowercase())
            };
            let mut ua = a.encode_utf16();
            let mut ub = b.encode_utf16();
            loop {
                match (ua.next(), ub.next()) {
                    (Some(p), Some(q)) if p != q => {
                        return Ok(Value::Int(i64::from(p) - i64::from(q)))
                    }
                    (Some(_), Some(_)) => {}
                    _ => {
                        return Ok(Value::Int(utf16_len(&a) as i64 - utf16_len(&b) as i64));
                    }
                }
            }
        }
        ("replace", 2) => {
            let (Some(a), Some(b)) = (str_arg(rt, m, &args[0])?, str_arg(rt, m, &args[1])?) else {
                return Ok(Value::Null);
            };
            if !a.is_empty()
                && s.matches(&*a).count().saturating_mul(b.len()) > rt.lim.max_string_bytes
            {
                return Err(limit(LimitKind::StringSize));
            }
            if a.is_empty() && (s.len() + 1).saturating_mul(b.len()) > rt.lim.max_string_bytes {
                return Err(limit(LimitKind::StringSize));
            }
            rt.new_str(s.replace(&*a, &b))
        }
        ("replaceAll" | "replaceFirst", 2) => {
            let (Some(p), Some(r)) = (str_arg(rt, m, &args[0])?, str_arg(rt, m, &args[1])?) else {
                return Ok(Value::Null);
            };
            let re = regex_for(rt, m, &p)?;
            let repl = replacement_for(rt, m, &r)?;
            let budget = rt.lim.max_string_bytes;
            match javaregex::replace(&re.find, s, &repl, name == "replaceAll", budget) {
                Ok(out) => rt.new_str(out),
                Err(e) if e.starts_with("string size") => Err(limit(LimitKind::StringSize)),
                Err(e) => Err(rt.err(m.pos, e)),
            }
        }
        ("matches", 1) => {
            let Some(p) = str_arg(rt, m, &args[0])? else {
                return Ok(Value::Null);
            };
            let re = regex_for(rt, m, &p)?;
            Ok(Value::Bool(re.whole.is_match(s)))
        }
        ("split", 1 | 2) => {
            let Some(p) = str_arg(rt, m, &args[0])? else {
                return Ok(Value::Null);
            };
            let lim = if args.len() == 2 {
                match int(1) {
                    Some(l) => l,
                    None => return Ok(Value::Null),
                }
            } else {
                0
            };
            let re = regex_for(rt, m, &p)?;
            let parts = javaregex::split(&re.find, s, lim);
            rt.step(parts.len() as u64)?;
            let items = parts.into_iter().map(Value::string).collect();
            Ok(rt.heap.new_list(items, false))
        }
        _ => Ok(Value::Null),
    }
}

// ---------- lists ----------

fn list_method(rt: &mut Rt<'_>, m: &MethodCall, id: u32, name: &str, args: Vec<Value>) -> R {
    let depth = rt.lim.max_render_depth;
    let len = rt.heap.list(id).items.len();
    let oob = |rt: &Rt<'_>, i: i64, size: usize| {
        rt.err(
            m.pos,
            format!("IndexOutOfBoundsException: Index: {}, Size: {}", i, size),
        )
    };
    match (name, args.len()) {
        ("size", 0) => Ok(Value::Int(len as i64)),
        ("isEmpty", 0) => Ok(Value::Bool(len == 0)),
        ("toString", 0) => {
            let s = rt.to_string(&Value::List(id))?;
            rt.new_str(s)
        }
        ("get", 1) => match args[0].as_int() {
            Some(i) if i >= 0 && (i as usize) < len => {
                Ok(rt.heap.list(id).items[i as usize].clone())
            }
            Some(i) => Err(oob(rt, i, len)),
            None => Ok(Value::Null),
        },
        ("contains" | "indexOf" | "lastIndexOf", 1) => {
            rt.step(len as u64)?;
            let items = rt.heap.list(id).items.clone();
            let mut found: Option<usize> = None;
            for (i, it) in items.iter().enumerate() {
                if rt.heap.java_equals(it, &args[0], 0, depth)? {
                    found = Some(i);
                    if name != "lastIndexOf" {
                        break;
                    }
                }
            }
            Ok(match name {
                "contains" => Value::Bool(found.is_some()),
                _ => Value::Int(found.map(|i| i as i64).unwrap_or(-1)),
            })
        }
        ("add", 1) => {
            let mut args = args;
            let v = args.pop().unwrap_or(Value::Null);
            rt.heap.list_mut(id).items.push(v);
            Ok(Value::Bool(true))
        }
        ("add", 2) => match args[0].as_int() {
            Some(i) if i >= 0 && (i as usize) <= len => {
                rt.heap
                    .list_mut(id)
                    .items
                    .insert(i as usize, args[1].clone());
                Ok(void())
            }
            Some(i) => Err(oob(rt, i, len)),
            None => Ok(Value::Null),
        },
        ("set", 2) => match args[0].as_int() {
            Some(i) if i >= 0 && (i as usize) < len => {
                let prev =
                    std::mem::replace(&mut rt.heap.list_mut(id).items[i as usize], args[1].clone());
                Ok(prev)
            }
            Some(i) => Err(oob(rt, i, len)),
            None => Ok(Value::Null),
        },
        ("remove", 1) => match &args[0] {
            Value::Int(i) => {
                let i = *i;
                if i >= 0 && (i as usize) < len {
                    rt.step(len as u64 / 8)?;
                    Ok(rt.heap.list_mut(id).items.remove(i as usize))
                } else {
                    Err(oob(rt, i, len))
                }
            }
            other => {
                rt.step(len as u64)?;
                let items = rt.heap.list(id).items.clone();
                for (i, it) in items.iter().enumerate() {
                    if rt.heap.java_equals(it, other, 0, depth)? {
                        rt.heap.list_mut(id).items.remove(i);
                        return Ok(Value::Bool(true));
                    }
                }
                Ok(Value::Bool(false))
            }
        },
        ("clear", 0) => {
            rt.heap.list_mut(id).items.clear();
            Ok(void())
        }
        ("addAll", 1) => {
            let extra: Vec<Value> = match &args[0] {
                Value::List(o) => rt.heap.list(*o).items.clone(),
                Value::Null => return Err(rt.err(m.pos, "NullPointerException in addAll()")),
                _ => return Ok(Value::Null),
            };
            rt.step(extra.len() as u64 + 1)?;
            let changed = !extra.is_empty();
            rt.heap.list_mut(id).items.extend(extra);
            Ok(Value::Bool(changed))
        }
        ("subList", 2) => match (args[0].as_int(), args[1].as_int()) {
            (Some(a), Some(b)) if a >= 0 && b as usize <= len && a <= b && b >= 0 => {
                let items = rt.heap.list(id).items[a as usize..b as usize].to_vec();
                rt.step(items.len() as u64 + 1)?;
                let json = rt.heap.list(id).json;
                Ok(rt.heap.new_list(items, json))
            }
            (Some(a), Some(b)) => Err(rt.err(
                m.pos,
                format!(
                    "IndexOutOfBoundsException: fromIndex {}, toIndex {}, size {}",
                    a, b, len
                ),
            )),
            _ => Ok(Value::Null),
        },
        ("equals", 1) => Ok(Value::Bool(rt.heap.java_equals(
            &Value::List(id),
            &args[0],
            0,
            depth,
        )?)),
        _ => Ok(Value::Null),
    }
}

// ---------- maps ----------

fn map_method(rt: &mut Rt<'_>, _m: &MethodCall, id: u32, name: &str, args: Vec<Value>) -> R {
    let depth = rt.lim.max_render_depth;
    let len = rt.heap.map(id).entries.len();
    match (name, args.len()) {
        ("size", 0) => Ok(Value::Int(len as i64)),
        ("isEmpty", 0) => Ok(Value::Bool(len == 0)),
        ("toString", 0) => {
            let s = rt.to_string(&Value::Map(id))?;
            rt.new_str(s)
        }
        ("get" | "containsKey" | "remove", 1) | ("getOrDefault", 2) => {
            if args[0].is_null() {
                return Ok(match name {
                    "containsKey" => Value::Bool(false),
                    "getOrDefault" => args[1].clone(),
                    _ => Value::Null,
                });
            }
            let k = rt.key_string(&args[0])?;
            Ok(match name {
                "get" => rt
                    .heap
                    .map(id)
                    .entries
                    .get(&k)
                    .cloned()
                    .unwrap_or(Value::Null),
                "containsKey" => Value::Bool(rt.heap.map(id).entries.contains_key(&k)),
                "getOrDefault" => rt
                    .heap
                    .map(id)
                    .entries
                    .get(&k)
                    .cloned()
                    .unwrap_or_else(|| args[1].clone()),
                _ => {
                    rt.step(len as u64 / 8)?;
                    rt.heap.map_mut(id).remove(&k).unwrap_or(Value::Null)
                }
            })
        }
        ("put" | "putIfAbsent", 2) => {
            let k = rt.key_string(&args[0])?;
            let mut args = args;
            let v = args.pop().unwrap_or(Value::Null);
            if name == "putIfAbsent" {
                if let Some(prev) = rt.heap.map(id).entries.get(&k) {
                    if !prev.is_null() {
                        return Ok(prev.clone());
                    }
                }
            }
            Ok(rt.heap.map_mut(id).put(k, v).unwrap_or(Value::Null))
        }
        ("containsValue", 1) => {
            rt.step(len as u64)?;
            let vals = rt.heap.map_values(id);
            for v in &vals {
                if rt.heap.java_equals(v, &args[0], 0, depth)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        ("keySet", 0) => {
            rt.step(len as u64 + 1)?;
            let keys = rt.heap.map_keys(id).into_iter().map(Value::Str).collect();
            Ok(rt.heap.new_list(keys, false))
        }
        ("values", 0) => {
            rt.step(len as u64 + 1)?;
            let vals = rt.heap.map_values(id);
            Ok(rt.heap.new_list(vals, false))
        }
        ("entrySet", 0) => {
            rt.step(2 * len as u64 + 1)?;
            let keys = rt.heap.map_keys(id);
            let mut entries = Vec::with_capacity(keys.len());
            for k in keys {
                let v = rt
                    .heap
                    .map(id)
                    .entries
                    .get(&k)
                    .cloned()
                    .unwrap_or(Value::Null);
                let (eid, ev) = rt.heap.new_map();
                rt.heap.map_mut(eid).put(Arc::from("key"), Value::Str(k));
                rt.heap.map_mut(eid).put(Arc::from("value"), v);
                entries.push(ev);
            }
            Ok(rt.heap.new_list(entries, false))
        }
        ("putAll", 1) => {
            let Value::Map(o) = &args[0] else {
                return Ok(Value::Null);
            };
            let keys = rt.heap.map_keys(*o);
            rt.step(keys.len() as u64 + 1)?;
            for k in keys {
                let v = rt
                    .heap
                    .map(*o)
                    .entries
                    .get(&k)
                    .cloned()
                    .unwrap_or(Value::Null);
                rt.heap.map_mut(id).put(k, v);
            }
            Ok(void())
        }
        ("clear", 0) => {
            rt.heap.map_mut(id).entries.clear();
            Ok(void())
        }
        ("equals", 1) => Ok(Value::Bool(rt.heap.java_equals(
            &Value::Map(id),
            &args[0],
            0,
            depth,
        )?)),
        _ => Ok(Value::Null),
    }
}

// ---------- numbers ----------

fn number_method(rt: &mut Rt<'_>, n: &Value, name: &str, args: &[Value]) -> R {
    let f = n.as_f64().unwrap_or(0.0);
    Ok(match (name, args.len()) {
        ("toString", 0) => Value::string(rt.to_string(n)?),
        ("intValue" | "shortValue" | "byteValue", 0) => Value::Int(match n {
            Value::Int(i) => i64::from(*i as i32),
            _ => i64::from(f as i32),
        }),
        ("longValue", 0) => Value::Int(match n {
            Value::Int(i) => *i,
            _ => f as i64,
        }),
        ("doubleValue", 0) => Value::Float(f),
        ("floatValue", 0) => Value::Float(f64::from(f as f32)),
        ("equals", 1) => Value::Bool(rt.heap.java_equals(n, &args[0], 0, 4)?),
        ("compareTo", 1) => match num_cmp(n, &args[0]) {
            Some(o) => Value::Int(o as i64),
            None => Value::Null,
        },
        ("hashCode", 0) => match n {
            Value::Int(i) if i32::try_from(*i).is_ok() => Value::Int(*i),
            Value::Int(i) => Value::Int(i64::from((*i ^ (*i >> 32)) as i32)),
            _ => Value::Null,
        },
        _ => Value::Null,
    })
}
