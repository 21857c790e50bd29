//! Part of `openapi` (beside the data flow, before `release` writes a draft): an OpenAPI file
//! as an ordered tree, and the JSON paths that warnings name.
//!
//! Order is kept because it carries meaning in the output (the first request template is the
//! one used when no `Accept` matches; integration responses are tried in file order), and
//! `serde_json::Value` sorts object keys in this build. Keys are strings whatever YAML wrote:
//! `responses: {200: ...}` is as common as `"200"`.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON or YAML value with its mappings in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    Map(IndexMap<String, Node>),
}

/// The prefix of API Gateway's extensions, `x-amazon-apigateway-integration` and the like.
pub const EXT: &str = "x-amazon-apigateway-";

/// A string node.
pub fn text(t: impl Into<String>) -> Node {
    Node::String(t.into())
}

/// A mapping node, in the order given.
pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Node)>) -> Node {
    Node::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

/// The text of a `uri`: a string, or `{"Fn::Sub": "text"}` / `{"Fn::Sub": ["text", {...}]}`
/// with its literal variables substituted (the rest stays `${...}` for `--map`).
pub fn sub_text(uri: &Node) -> Option<String> {
    if let Some(t) = uri.as_str() {
        return Some(t.to_string());
    }
    let sub = uri.get("Fn::Sub")?;
    if let Some(t) = sub.as_str() {
        return Some(t.to_string());
    }
    let parts = sub.as_seq()?;
    let mut text = parts.first()?.as_str()?.to_string();
    for (name, value) in parts.get(1).and_then(Node::as_map).into_iter().flatten() {
        if let Some(v) = value.as_str() {
            text = text.replace(&format!("${{{name}}}"), v);
        }
    }
    Some(text)
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(m) => m.get(key),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&IndexMap<String, Node>> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match self {
            Node::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The entries of the mapping at `key`, in file order (none when it is absent or no mapping).
    pub fn entries<'n>(&'n self, key: &str) -> impl Iterator<Item = (&'n String, &'n Node)> {
        self.get(key).and_then(Node::as_map).into_iter().flatten()
    }

    /// The items of the list at `key` (none when it is absent or no list).
    pub fn items(&self, key: &str) -> &[Node] {
        self.get(key).and_then(Node::as_seq).unwrap_or(&[])
    }

    /// How many items a list, or entries a mapping, holds (0 for anything else).
    pub fn size(&self) -> usize {
        match self {
            Node::Seq(s) => s.len(),
            Node::Map(m) => m.len(),
            _ => 0,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A string, or a number or boolean written without quotes (`statusCode: 200`,
    /// `swagger: 2.0`), as text.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Node::String(s) => Some(s.clone()),
            Node::Number(n) => Some(n.to_string()),
            Node::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// What kind of value this is, for messages ("expected a mapping, found a list").
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// The draft is built as a tree too, and written in its order.
impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Number(n) => n.serialize(s),
            Node::String(t) => s.serialize_str(t),
            Node::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON or YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        serde_json::Number::from_f64(v)
            .map(Node::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = IndexMap::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((Key(k), v)) = map.next_entry::<Key, Node>()? {
            entries.insert(k, v);
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key as text: YAML allows numbers and booleans there.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        match Node::deserialize(d)? {
            node @ (Node::String(_) | Node::Number(_) | Node::Bool(_)) => {
                Ok(Key(node.scalar_text().unwrap_or_default()))
            }
            Node::Null => Ok(Key("null".to_string())),
            other => Err(de::Error::custom(format!(
                "a mapping key must be text, not {}",
                other.kind()
            ))),
        }
    }
}

/// One thing a draft does not carry as the definition says, and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: JsonPath,
    pub message: String,
}

/// Where a value sits in the document, printed as a JSON path:
/// `$.paths['/pets/{petId}'].get['x-amazon-apigateway-integration'].uri`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonPath(Vec<Step>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl JsonPath {
    pub fn root() -> JsonPath {
        JsonPath::default()
    }

    pub fn key(&self, key: &str) -> JsonPath {
        let mut p = self.clone();
        p.0.push(Step::Key(key.to_string()));
        p
    }

    pub fn index(&self, i: usize) -> JsonPath {
        let mut p = self.clone();
        p.0.push(Step::Index(i));
        p
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("$")?;
        for step in &self.0 {
            match step {
                Step::Index(i) => write!(f, "[{i}]")?,
                // A plain identifier reads as `.name`; anything else is quoted, as JSONPath does.
                Step::Key(k)
                    if !k.is_empty()
                        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        && !k.as_bytes()[0].is_ascii_digit() =>
                {
                    write!(f, ".{k}")?
                }
                Step::Key(k) => write!(f, "['{}']", k.replace('\\', "\\\\").replace('\'', "\\'"))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mappings_keep_file_order_and_numeric_keys_become_text() {
        let yaml = "b: 1\na:\n  200: {x: true}\n  default: [1, 2.5, null]\n";
        let n: Node = serde_saphyr::from_str(yaml).unwrap();
        let keys: Vec<_> = n.as_map().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["b", "a"]);
        let a = n.get("a").unwrap().as_map().unwrap();
        assert_eq!(a.keys().collect::<Vec<_>>(), ["200", "default"]);
        assert_eq!(a["200"].get("x"), Some(&Node::Bool(true)));
        let seq = a["default"].as_seq().unwrap();
        assert_eq!(seq[2], Node::Null);
        assert_eq!(seq[1].scalar_text().unwrap(), "2.5");

        let json: Node = serde_json::from_str(r#"{"z": 1, "y": {"b": 2, "a": 3}}"#).unwrap();
        let y: Vec<_> = json.get("y").unwrap().as_map().unwrap().keys().collect();
        assert_eq!(y, ["b", "a"]);
    }

    #[test]
    fn json_paths_read_as_jsonpath() {
        let p = JsonPath::root()
            .key("paths")
            .key("/pets/{petId}")
            .key("get")
            .key("x-amazon-apigateway-integration")
            .key("uri");
        assert_eq!(
            p.to_string(),
            "$.paths['/pets/{petId}'].get['x-amazon-apigateway-integration'].uri"
        );
        let p = JsonPath::root()
            .key("security")
            .index(0)
            .key("it's")
            .key("200");
        assert_eq!(p.to_string(), "$.security[0]['it\\'s']['200']");
    }
}
