//! Part of `release`, beside the data flow: editing stage files without losing what people wrote in
//! them. Stage files are hand-written and commented, so a command changes only the top-level keys
//! it owns (`deployment`, `history`, `canary`, and `variables` on promote) and leaves every other
//! line, comments included, as it was: a scalar is replaced in place (keeping its trailing
//! comment), a history entry or a variable is added as one more line, a canary block is replaced as
//! a whole.
//!
//! Every edit is checked: the edited text must parse to exactly the old document with the
//! intended changes. Layouts the line editor does not handle (a flow-style document, anchors,
//! several documents...) fail that check, and the file is then rewritten whole from the parsed
//! document, without comments; `Edited::comments_kept` says which happened.

use serde_json::{Map, Value};

/// A value the lifecycle commands write.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Str(String),
    /// A number, boolean or null, written as its JSON text (which YAML reads the same).
    Lit(Value),
    /// A block mapping, one key per line, in this order.
    Map(Vec<(String, Yaml)>),
    /// A mapping on one line: `{ deployment: shop-2, at: "..." }`.
    Flow(Vec<(String, Yaml)>),
    List(Vec<Yaml>),
}

impl Yaml {
    pub fn str(s: &str) -> Yaml {
        Yaml::Str(s.to_string())
    }

    pub fn float(f: f64) -> Yaml {
        Yaml::Lit(Value::from(f))
    }

    pub fn to_json(&self) -> Value {
        match self {
            Yaml::Str(s) => Value::String(s.clone()),
            Yaml::Lit(v) => v.clone(),
            Yaml::Map(m) | Yaml::Flow(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Yaml::List(items) => Value::Array(items.iter().map(Yaml::to_json).collect()),
        }
    }

    /// The value in flow style, on one line.
    pub fn flow(&self) -> String {
        match self {
            Yaml::Str(s) => scalar(s),
            // serde_json writes floats with a decimal point (`30.0`), so they read back as floats.
            Yaml::Lit(v) => v.to_string(),
            Yaml::Map(m) | Yaml::Flow(m) if m.is_empty() => "{}".into(),
            Yaml::Map(m) | Yaml::Flow(m) => {
                let parts: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{}: {}", scalar(k), v.flow()))
                    .collect();
                format!("{{ {} }}", parts.join(", "))
            }
            Yaml::List(items) => {
                let parts: Vec<String> = items.iter().map(Yaml::flow).collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }

    /// `key: value` as block-style lines indented by `indent` spaces.
    pub fn entry(&self, key: &str, indent: usize) -> String {
        let pad = " ".repeat(indent);
        let key = scalar(key);
        match self {
            Yaml::Map(m) if !m.is_empty() => {
                let mut out = format!("{pad}{key}:\n");
                for (k, v) in m {
                    out.push_str(&v.entry(k, indent + 2));
                }
                out
            }
            Yaml::List(items) if !items.is_empty() => {
                let mut out = format!("{pad}{key}:\n");
                for item in items {
                    out.push_str(&format!("{pad}  - {}\n", item.flow()));
                }
                out
            }
            other => format!("{pad}{key}: {}\n", other.flow()),
        }
    }

    fn is_scalar(&self) -> bool {
        matches!(self, Yaml::Str(_) | Yaml::Lit(_))
    }
}

/// A string as a YAML scalar: plain when it cannot be read as anything else (`shop-3`, `live`),
/// otherwise double-quoted. A JSON string is a valid YAML double-quoted scalar.
pub fn scalar(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        // YAML 1.1 booleans and null read as something else by some parsers.
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// One change to a top-level key of a document (one change per key in a call to `edit`).
#[derive(Debug, Clone)]
pub enum Change {
    /// Set the key to a value, or remove it.
    Set(String, Option<Yaml>),
    /// Set some entries of the mapping under the key, keeping the others.
    Merge(String, Vec<(String, Yaml)>),
    /// Add items at the end of the list under the key.
    Append(String, Vec<Yaml>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub text: String,
    /// False when the file had to be rewritten whole (comments and layout not kept).
    pub comments_kept: bool,
}

/// Reads a YAML document as plain data (an empty document is an empty mapping).
pub fn parse_value(text: &str) -> Result<Value, String> {
    let has_content = text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---"
    });
    if !has_content {
        return Ok(Value::Object(Map::new()));
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .to_string()
    })
}

/// The document `old` after `changes`.
fn apply_value(old: &Value, changes: &[Change]) -> Result<Value, String> {
    let mut doc = match old {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err("the file is not a mapping of keys to values".into()),
    };
    for c in changes {
        match c {
            Change::Set(k, Some(v)) => {
                doc.insert(k.clone(), v.to_json());
            }
            Change::Set(k, None) => {
                doc.remove(k);
            }
            Change::Merge(k, entries) => {
                let mut m = match doc.get(k) {
                    Some(Value::Object(m)) => m.clone(),
                    None | Some(Value::Null) => Map::new(),
                    Some(_) => return Err(format!("{k} is not a mapping")),
                };
                for (ek, ev) in entries {
                    m.insert(ek.clone(), ev.to_json());
                }
                doc.insert(k.clone(), Value::Object(m));
            }
            Change::Append(k, new_items) => {
                let mut items = match doc.get(k) {
                    Some(Value::Array(a)) => a.clone(),
                    None | Some(Value::Null) => Vec::new(),
                    Some(_) => return Err(format!("{k} is not a list")),
                };
                items.extend(new_items.iter().map(Yaml::to_json));
                doc.insert(k.clone(), Value::Array(items));
            }
        }
    }
    Ok(Value::Object(doc))
}

/// Applies `changes` to the text of a YAML document, keeping comments where it can.
pub fn edit(text: &str, changes: &[Change]) -> Result<Edited, String> {
    let old = parse_value(text)?;
    let expected = apply_value(&old, changes)?;
    let mut t = text.to_string();
    if !t.is_empty() && !t.ends_with('\n') {
        t.push('\n');
    }
    let in_place = changes
        .iter()
        .try_fold(t, |t, c| edit_text(&t, c, &expected));
    if let Some(t) = in_place {
        if parse_value(&t).as_ref() == Ok(&expected) {
            return Ok(Edited {
                text: t,
                comments_kept: true,
            });
        }
    }
    let text = serde_saphyr::to_string(&expected).map_err(|e| e.to_string())?;
    if parse_value(&text).as_ref() != Ok(&expected) {
        return Err("the rewritten file does not read back the same".into());
    }
    Ok(Edited {
        text,
        comments_kept: false,
    })
}

/// A top-level key and the lines its value spans (`start` is the key's line; `end` exclusive,
/// after the last line that belongs to it, so trailing comments and blank lines stay outside).
#[derive(Debug)]
struct Section {
    key: String,
    /// Byte offset in the key line where the value starts (after `key:`).
    value_at: usize,
    start: usize,
    end: usize,
}

/// `key:` at the start of `line` (plain, `"double"` or `'single'` quoted): the key and the byte
/// offset after the colon.
fn key_of(line: &str) -> Option<(String, usize)> {
    let first = line.chars().next()?;
    let (key, after) = match first {
        '"' => {
            let mut escaped = false;
            let close = line
                .char_indices()
                .skip(1)
                .find(|(_, c)| {
                    let hit = *c == '"' && !escaped;
                    escaped = *c == '\\' && !escaped;
                    hit
                })?
                .0;
            let key: String = serde_json::from_str(&line[..=close]).ok()?;
            (key, close + 1)
        }
        '\'' => {
            let close = line[1..].find('\'')? + 1;
            (line[1..close].to_string(), close + 1)
        }
        c if c.is_alphanumeric() || c == '_' => {
            let colon = line.find(':')?;
            let key = &line[..colon];
            if key.contains(" #") || key.contains('\t') {
                return None;
            }
            (key.trim_end().to_string(), colon)
        }
        _ => return None,
    };
    let rest = &line[after..];
    let rest_after_colon = rest.strip_prefix(':')?;
    if !(rest_after_colon.is_empty() || rest_after_colon.starts_with([' ', '\t', '\n', '\r'])) {
        return None;
    }
    Some((key, after + 1))
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn sections(lines: &[&str]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if is_blank_or_comment(line) {
            continue;
        }
        if let Some((key, value_at)) = key_of(line) {
            out.push(Section {
                key,
                value_at,
                start: i,
                end: i + 1,
            });
        } else if line.starts_with([' ', '\t']) || line.starts_with("- ") || line.trim() == "-" {
            // Indented lines, and a block list written at the key's own indentation, continue
            // the current key's value.
            if let Some(s) = out.last_mut() {
                s.end = i + 1;
            }
        }
        // Anything else (`---`, a flow document...) belongs to no key: edits near it are
        // caught by the read-back check.
    }
    out
}

/// The value part of a `key: value  # comment` line split into value and comment.
fn split_comment(value: &str) -> (&str, Option<&str>) {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in value.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev_space => return (value[..i].trim_end(), Some(&value[i..])),
            None => {}
        }
        prev_space = c == ' ' || c == '\t';
    }
    (value.trim_end(), None)
}

/// `line` (a `key: value` line) with its value replaced and its comment kept.
fn replace_value(line: &str, value_at: usize, new_value: &str) -> String {
    let (head, rest) = line.split_at(value_at);
    let rest = rest.trim_end_matches(['\n', '\r']);
    let (_, comment) = split_comment(rest.trim_start());
    match comment {
        Some(c) => format!("{head} {new_value}  {c}\n"),
        None => format!("{head} {new_value}\n"),
    }
}

fn splice(lines: &[&str], start: usize, end: usize, insert: &str) -> String {
    let mut out: String = lines[..start].concat();
    out.push_str(insert);
    out.push_str(&lines[end..].concat());
    out
}

/// The text after one change, or `None` where only a whole rewrite can do it.
fn edit_text(text: &str, change: &Change, expected: &Value) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let secs = sections(&lines);
    let key = match change {
        Change::Set(k, _) | Change::Merge(k, _) | Change::Append(k, _) => k,
    };
    let found = secs.iter().find(|s| &s.key == key);
    // The key's whole value as it must end up, for when it is written anew: what the change
    // says, in its order, when there was nothing before.
    let whole = || {
        let value = match (change, found) {
            (Change::Set(_, Some(v)), _) => v.clone(),
            (Change::Append(_, items), None) => Yaml::List(items.clone()),
            (Change::Merge(_, entries), None) => Yaml::Map(entries.clone()),
            _ => yaml_of(expected.get(key)?)?,
        };
        Some(value.entry(key, 0))
    };
    match (change, found) {
        (Change::Set(_, None), None) => Some(text.to_string()),
        (Change::Set(_, None), Some(s)) => Some(splice(&lines, s.start, s.end, "")),
        (Change::Set(_, Some(v)), Some(s)) if v.is_scalar() && s.end == s.start + 1 => {
            let line = replace_value(lines[s.start], s.value_at, &v.flow());
            Some(splice(&lines, s.start, s.end, &line))
        }
        (_, None) => Some(format!("{text}{}", whole()?)),
        (Change::Set(..), Some(s)) => Some(splice(&lines, s.start, s.end, &whole()?)),
        (Change::Append(_, items), Some(s)) => match block_children(&lines, s) {
            Some((indent, true)) => {
                let added: String = items
                    .iter()
                    .map(|item| format!("{}- {}\n", " ".repeat(indent), item.flow()))
                    .collect();
                Some(splice(&lines, s.end, s.end, &added))
            }
            _ => Some(splice(&lines, s.start, s.end, &whole()?)),
        },
        (Change::Merge(_, entries), Some(s)) => match block_children(&lines, s) {
            Some((indent, false)) => merge_entries(text, key, indent, entries),
            _ => Some(splice(&lines, s.start, s.end, &whole()?)),
        },
    }
}

/// For a key whose value is a block below it: the children's indentation and whether they are
/// list items.
fn block_children(lines: &[&str], s: &Section) -> Option<(usize, bool)> {
    let (inline, _) = split_comment(lines[s.start][s.value_at..].trim());
    if !inline.is_empty() {
        return None;
    }
    let first = lines[s.start + 1..s.end]
        .iter()
        .find(|l| !is_blank_or_comment(l))?;
    let body = first.trim_start_matches(' ');
    Some((
        indent_of(first),
        body.starts_with("- ") || body.trim() == "-",
    ))
}

/// Sets `entries` in the block mapping under `key` one line each: an existing single-line entry
/// gets its value replaced (comment kept), a new one goes after the last entry.
fn merge_entries(
    text: &str,
    key: &str,
    indent: usize,
    entries: &[(String, Yaml)],
) -> Option<String> {
    let mut text = text.to_string();
    for (k, v) in entries {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let secs = sections(&lines);
        let s = secs.iter().find(|s| s.key == key)?;
        let children: Vec<usize> = (s.start + 1..s.end)
            .filter(|i| !is_blank_or_comment(lines[*i]) && indent_of(lines[*i]) == indent)
            .collect();
        let existing = children.iter().enumerate().find_map(|(n, i)| {
            let (ck, at) = key_of(&lines[*i][indent..])?;
            // Single-line: the next child (or the section end) follows directly.
            let next = children.get(n + 1).copied().unwrap_or(s.end);
            let single = (i + 1..next).all(|j| is_blank_or_comment(lines[j]));
            (ck == *k).then_some((*i, at + indent, single))
        });
        text = match existing {
            Some((i, at, true)) if v.is_scalar() => {
                splice(&lines, i, i + 1, &replace_value(lines[i], at, &v.flow()))
            }
            Some(_) => return None,
            None => splice(&lines, s.end, s.end, &v.entry(k, indent)),
        };
    }
    Some(text)
}

/// Plain data back into a writable value (block mappings; lists of one-line items).
fn yaml_of(v: &Value) -> Option<Yaml> {
    Some(match v {
        Value::String(s) => Yaml::Str(s.clone()),
        Value::Number(_) | Value::Bool(_) | Value::Null => Yaml::Lit(v.clone()),
        Value::Object(m) => Yaml::Map(
            m.iter()
                .map(|(k, v)| Some((k.clone(), yaml_of(v)?)))
                .collect::<Option<_>>()?,
        ),
        Value::Array(items) => Yaml::List(
            items
                .iter()
                .map(|v| match yaml_of(v)? {
                    Yaml::Map(m) => Some(Yaml::Flow(m)),
                    other => Some(other),
                })
                .collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const STAGE: &str = "\
# The production stage. Owner: team-shop.
api: shop
deployment: shop-2   # switched by hand after the incident
variables:
  alias: live       # 95/5, see gateway.yaml
  \"env\": production

# CLI-maintained below.
history:
  - { deployment: shop-1, at: \"2026-11-20T10:00:00Z\" }
  - { deployment: shop-2, at: \"2026-11-21T10:00:00Z\" }
";

    fn entry(id: &str, at: &str) -> Yaml {
        Yaml::Flow(vec![
            ("deployment".into(), Yaml::str(id)),
            ("at".into(), Yaml::str(at)),
        ])
    }

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        assert_eq!(scalar("shop-3"), "shop-3");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("2026-11-24T12:00:00Z"), "\"2026-11-24T12:00:00Z\"");
        assert_eq!(scalar("header:x-user"), "\"header:x-user\"");
        assert_eq!(scalar("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(scalar(""), "\"\"");
    }

    #[test]
    fn switching_keeps_every_comment_and_adds_one_history_line() {
        let e = edit(
            STAGE,
            &[
                Change::Set("deployment".into(), Some(Yaml::str("shop-3"))),
                Change::Append(
                    "history".into(),
                    vec![entry("shop-3", "2026-11-24T12:00:00Z")],
                ),
            ],
        )
        .unwrap();
        assert!(e.comments_kept);
        let want = STAGE
            .replace("shop-2   # switched", "shop-3  # switched")
            .replace(
            "2026-11-21T10:00:00Z\" }\n",
            "2026-11-21T10:00:00Z\" }\n  - { deployment: shop-3, at: \"2026-11-24T12:00:00Z\" }\n",
        );
        assert_eq!(e.text, want);
    }

    #[test]
    fn merging_variables_edits_and_adds_lines() {
        let e = edit(
            STAGE,
            &[Change::Merge(
                "variables".into(),
                vec![
                    ("alias".into(), Yaml::str("next")),
                    ("env".into(), Yaml::str("canary")),
                    ("region".into(), Yaml::str("eu-west-1")),
                ],
            )],
        )
        .unwrap();
        assert!(e.comments_kept);
        assert!(
            e.text.contains("  alias: next  # 95/5, see gateway.yaml\n"),
            "{}",
            e.text
        );
        assert!(
            e.text
                .contains("  \"env\": canary\n  region: eu-west-1\n\n# CLI"),
            "{}",
            e.text
        );
    }

    #[test]
    fn a_block_is_replaced_and_removed_whole() {
        let canary = Yaml::Map(vec![
            ("deployment".into(), Yaml::str("shop-3")),
            ("percent".into(), Yaml::float(30.0)),
            (
                "variables".into(),
                Yaml::Map(vec![("alias".into(), Yaml::str("next"))]),
            ),
        ]);
        let e = edit(STAGE, &[Change::Set("canary".into(), Some(canary))]).unwrap();
        assert!(e.comments_kept);
        assert!(e.text.ends_with(
            "canary:\n  deployment: shop-3\n  percent: 30.0\n  variables:\n    alias: next\n"
        ));
        let removed = edit(&e.text, &[Change::Set("canary".into(), None)]).unwrap();
        assert_eq!(removed.text, STAGE);
    }

    #[test]
    fn lists_at_the_key_indentation_and_flow_values_are_handled() {
        let text = "api: shop\ndeployment: a\nhistory:\n- {deployment: a, at: x}\nvariables: {alias: live}\n";
        let e = edit(
            text,
            &[
                Change::Append("history".into(), vec![entry("b", "later")]),
                Change::Merge(
                    "variables".into(),
                    vec![("alias".into(), Yaml::str("next"))],
                ),
            ],
        )
        .unwrap();
        assert!(e.comments_kept);
        assert_eq!(
            e.text,
            "api: shop\ndeployment: a\nhistory:\n- {deployment: a, at: x}\n- { deployment: b, at: later }\nvariables:\n  alias: next\n"
        );
    }

    #[test]
    fn a_new_file_is_written_from_nothing() {
        let e = edit(
            "",
            &[
                Change::Set("api".into(), Some(Yaml::str("shop"))),
                Change::Append(
                    "history".into(),
                    vec![entry("shop-1", "t"), entry("shop-2", "u")],
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            e.text,
            "api: shop\nhistory:\n  - { deployment: shop-1, at: t }\n  - { deployment: shop-2, at: u }\n"
        );
    }

    #[test]
    fn layouts_the_editor_does_not_know_are_rewritten_whole() {
        let text = "{api: shop, deployment: a}  # all on one line\n";
        let e = edit(
            text,
            &[Change::Set("deployment".into(), Some(Yaml::str("b")))],
        )
        .unwrap();
        assert!(!e.comments_kept);
        let v = parse_value(&e.text).unwrap();
        assert_eq!(v["deployment"], "b");
        assert_eq!(v["api"], "shop");
    }
}
