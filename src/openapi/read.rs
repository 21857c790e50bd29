//! Part of `openapi` (beside the data flow): one file into a [`Document`], or one error that names
//! the file, the line where there is one, and the problem. Nothing is guessed: a file that is not
//! Swagger 2.0 or OpenAPI 3.0 is refused before anything is converted.

use std::fmt;
use std::path::{Path, PathBuf};

use super::doc::Node;

/// The OpenAPI versions `import` reads: AWS's `import-rest-api` takes these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `swagger: "2.0"`
    Swagger2,
    /// `openapi: "3.0.x"`
    OpenApi30,
}

/// A parsed OpenAPI file.
#[derive(Debug, Clone)]
pub struct Document {
    pub version: Version,
    pub root: Node,
}

/// Why a file could not be read as OpenAPI: shown as `FILE[:LINE]: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ReadError {}

/// Reads `path` (JSON or YAML: JSON when its first character is `{` or `[`).
pub fn read(path: &Path) -> Result<Document, ReadError> {
    let fail = |line: Option<u64>, message: String| ReadError {
        file: path.to_path_buf(),
        line,
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(None, format!("cannot read it: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        fail(Some(line), "not UTF-8 text".to_string())
    })?;
    parse(&text).map_err(|(line, message)| fail(line, message))
}

/// [`read`] for text already in memory: the line (when known) and the message of a refusal.
pub fn parse(text: &str) -> Result<Document, (Option<u64>, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    let root: Node = if json {
        serde_json::from_str(text).map_err(|e| {
            let line = (e.line() > 0).then_some(e.line() as u64);
            (line, format!("invalid JSON: {e}"))
        })?
    } else {
        serde_saphyr::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            (
                line,
                format!("invalid YAML: {}", crate::config::yaml_message(&e)),
            )
        })?
    };
    let version = version(&root).map_err(|m| (None, m))?;
    if !matches!(root.get("paths"), Some(Node::Map(_)) | None) {
        return Err((
            None,
            "`paths` must be a mapping of paths to path items".into(),
        ));
    }
    Ok(Document { version, root })
}

const NOT_OPENAPI: &str = "not an OpenAPI 2.0 or 3.0 document (no `swagger: \"2.0\"` or \
                           `openapi: \"3.0.x\"` at the top)";

fn version(root: &Node) -> Result<Version, String> {
    let Node::Map(_) = root else {
        return Err(format!("{NOT_OPENAPI}: the file holds {}", root.kind()));
    };
    if let Some(v) = root.get("swagger") {
        // YAML reads an unquoted `swagger: 2.0` as a number.
        return match v.scalar_text().as_deref() {
            Some("2.0" | "2") => Ok(Version::Swagger2),
            Some(other) => Err(format!(
                "swagger {other} is not supported: only Swagger 2.0 and OpenAPI 3.0"
            )),
            None => Err(NOT_OPENAPI.to_string()),
        };
    }
    if let Some(v) = root.get("openapi") {
        return match v.scalar_text() {
            Some(t) if t == "3.0" || t.starts_with("3.0.") => Ok(Version::OpenApi30),
            Some(other) => Err(format!(
                "openapi {other} is not supported: only Swagger 2.0 and OpenAPI 3.0 (as AWS \
                 imports)"
            )),
            None => Err(NOT_OPENAPI.to_string()),
        };
    }
    Err(NOT_OPENAPI.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_versions_in_both_syntaxes() {
        let d = parse(r#"{"swagger": "2.0", "paths": {}}"#).unwrap();
        assert_eq!(d.version, Version::Swagger2);
        let d = parse("swagger: 2.0\npaths: {}\n").unwrap();
        assert_eq!(d.version, Version::Swagger2);
        let d = parse("\u{feff}openapi: 3.0.1\npaths:\n  /a: {}\n").unwrap();
        assert_eq!(d.version, Version::OpenApi30);
        let d = parse("openapi: '3.0'\n").unwrap();
        assert_eq!(d.version, Version::OpenApi30);
    }

    #[test]
    fn refusals_say_why_and_where() {
        let (line, msg) = parse("{\n  \"swagger\": \"2.0\",\n  \"paths\": {,}\n}").unwrap_err();
        assert_eq!(line, Some(3), "{msg}");
        assert!(msg.starts_with("invalid JSON"), "{msg}");

        let (line, msg) = parse("swagger: \"2.0\"\npaths:\n  /a: [\n").unwrap_err();
        assert!(line.is_some(), "{msg}");
        assert!(msg.starts_with("invalid YAML"), "{msg}");

        for (text, want) in [
            ("openapi: 3.1.0\n", "openapi 3.1.0 is not supported"),
            ("swagger: '1.2'\n", "swagger 1.2 is not supported"),
            (
                "name: shop\nroutes: []\n",
                "not an OpenAPI 2.0 or 3.0 document",
            ),
            ("- a\n- b\n", "the file holds a list"),
            ("swagger: '2.0'\npaths: [1]\n", "`paths` must be a mapping"),
        ] {
            let (_, msg) = parse(text).unwrap_err();
            assert!(msg.contains(want), "{text:?}: {msg}");
        }
    }

    #[test]
    fn a_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.yaml");
        std::fs::write(&path, "openapi: 3.0.0\npaths:\n  /a:\n    get: {\n").unwrap();
        let e = read(&path).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{}:", path.display())),
            "{shown}"
        );
        assert!(e.line.is_some(), "{shown}");
        let e = read(&dir.path().join("missing.json")).unwrap_err();
        assert!(e.to_string().contains("cannot read it"), "{e}");
    }
}
