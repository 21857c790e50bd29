//! Part of the first stage of the data flow: the syntax of a stage's `access_log.format`,
//! literal text and `$context` variables (AWS names), parsed once when the stage file is read.
//! `accesslog` writes lines in it.

use super::typed::Syntax;
use std::sync::LazyLock;

/// A `$context` variable an access-log format may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    RequestId,
    ExtendedRequestId,
    HttpMethod,
    ResourcePath,
    Path,
    Protocol,
    Status,
    ResponseLength,
    ResponseLatency,
    IntegrationLatency,
    SourceIp,
    UserAgent,
    RequestTime,
    RequestTimeEpoch,
    DomainName,
    Stage,
    DeploymentId,
    IsCanaryRequest,
    /// The backend version picked (stagecraft's addition).
    Version,
    ErrorMessage,
    ErrorMessageString,
    ErrorResponseType,
    ErrorValidationErrorString,
    /// `authorizer.principalId`, `authorizer.KEY`, `authorizer.claims.NAME`.
    Authorizer(std::sync::Arc<str>),
    /// `identity.apiKey`: never the value in a log; its last four characters after `****`.
    ApiKey,
    ApiKeyId,
}

const FIELDS: &[(&str, Field)] = &[
    ("extendedRequestId", Field::ExtendedRequestId),
    ("requestId", Field::RequestId),
    ("httpMethod", Field::HttpMethod),
    ("resourcePath", Field::ResourcePath),
    ("path", Field::Path),
    ("protocol", Field::Protocol),
    ("status", Field::Status),
    ("responseLength", Field::ResponseLength),
    ("responseLatency", Field::ResponseLatency),
    ("integrationLatency", Field::IntegrationLatency),
    ("integration.latency", Field::IntegrationLatency),
    ("identity.sourceIp", Field::SourceIp),
    ("identity.userAgent", Field::UserAgent),
    ("identity.apiKeyId", Field::ApiKeyId),
    ("identity.apiKey", Field::ApiKey),
    ("requestTimeEpoch", Field::RequestTimeEpoch),
    ("requestTime", Field::RequestTime),
    ("domainName", Field::DomainName),
    ("stage", Field::Stage),
    ("deploymentId", Field::DeploymentId),
    ("isCanaryRequest", Field::IsCanaryRequest),
    ("version", Field::Version),
    // Longest first where one name starts another, as with requestTimeEpoch.
    ("error.messageString", Field::ErrorMessageString),
    ("error.message", Field::ErrorMessage),
    ("error.responseType", Field::ErrorResponseType),
    (
        "error.validationErrorString",
        Field::ErrorValidationErrorString,
    ),
];

/// A piece of a format: literal text or a field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(Box<str>),
    Field(Field),
}

/// A compiled format. Values are JSON-escaped when the format is a JSON object, so a user agent
/// with a quote cannot break the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pieces: Box<[Piece]>,
    json: bool,
}

/// The default line: every field, as one JSON object.
pub const DEFAULT_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","path":"$context.path","resourcePath":"$context.resourcePath","status":$context.status,"protocol":"$context.protocol","responseLength":$context.responseLength,"responseLatency":$context.responseLatency,"integrationLatency":"$context.integrationLatency","stage":"$context.stage","deploymentId":"$context.deploymentId","isCanaryRequest":$context.isCanaryRequest,"version":"$context.version","userAgent":"$context.identity.userAgent"}"#;

impl Format {
    /// Parses `$context.NAME` (also `${context.NAME}`) references; anything else is literal.
    pub fn parse(s: &str) -> Result<Format, String> {
        if s.contains('\n') {
            return Err("access_log.format must be a single line".into());
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = s;
        while let Some(at) = rest.find('$') {
            text.push_str(&rest[..at]);
            let after = &rest[at..];
            let (braced, name_start) = if after.starts_with("${context.") {
                (true, "${context.".len())
            } else if after.starts_with("$context.") {
                (false, "$context.".len())
            } else {
                text.push('$');
                rest = &after[1..];
                continue;
            };
            let tail = &after[name_start..];
            let authorizer = tail.strip_prefix("authorizer.").map(|key| {
                let n = key
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .unwrap_or(key.len());
                // A full stop after the name ends the sentence, not the name.
                let key = key[..n].trim_end_matches('.');
                (
                    "authorizer.".len() + key.len(),
                    Field::Authorizer(key.into()),
                )
            });
            let found = match authorizer {
                Some((len, f)) if len > "authorizer.".len() => Some((&tail[..len], f)),
                _ => FIELDS
                    .iter()
                    .find(|(n, _)| {
                        tail.starts_with(n)
                            && !tail[n.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
                    })
                    .map(|(n, f)| (*n, f.clone())),
            };
            let Some((name, field)) = found else {
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                    .unwrap_or(tail.len());
                return Err(format!(
                    "access_log.format: $context.{} is not a field stagecraft logs (known: {})",
                    &tail[..end],
                    FIELDS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            let mut consumed = name_start + name.len();
            if braced {
                if !after[consumed..].starts_with('}') {
                    return Err(format!("access_log.format: unclosed ${{context.{name}"));
                }
                consumed += 1;
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text).into()));
            }
            pieces.push(Piece::Field(field));
            rest = &after[consumed..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text.into()));
        }
        if !pieces
            .iter()
            .any(|p| matches!(p, Piece::Field(Field::RequestId | Field::ExtendedRequestId)))
        {
            return Err("access_log.format must contain $context.requestId or $context.extendedRequestId (as AWS requires)".into());
        }
        Ok(Format {
            pieces: pieces.into(),
            json: s.trim_start().starts_with('{'),
        })
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Whether the format is a JSON object, whose values are then escaped.
    pub fn is_json(&self) -> bool {
        self.json
    }
}

impl Syntax for Format {
    fn parse(text: &str) -> Result<Format, String> {
        Format::parse(text)
    }
}

/// `DEFAULT_FORMAT`, parsed once per process: a constant that parses (a test checks it); the
/// bare request id if it ever did not, rather than a panic.
static DEFAULT: LazyLock<Format> = LazyLock::new(|| {
    Format::parse(DEFAULT_FORMAT).unwrap_or_else(|_| Format {
        pieces: Box::new([Piece::Field(Field::RequestId)]),
        json: false,
    })
});

impl Default for Format {
    fn default() -> Format {
        DEFAULT.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rejects_unknown_fields_and_missing_request_id() {
        assert!(Format::parse("$context.requestId $context.nope")
            .unwrap_err()
            .contains("nope"));
        assert!(Format::parse("$context.status")
            .unwrap_err()
            .contains("requestId"));
        assert!(Format::parse("$context.requestId\n").is_err());
    }

    fn fields_of(f: &Format) -> Vec<Field> {
        f.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Field(f) => Some(f.clone()),
                Piece::Text(_) => None,
            })
            .collect()
    }

    #[test]
    fn error_fields_parse_by_their_whole_names() {
        let f = Format::parse(
            "$context.requestId $context.error.message $context.error.messageString \
             ${context.error.responseType} $context.error.validationErrorString",
        )
        .unwrap();
        let fields = fields_of(&f);
        assert_eq!(
            fields,
            [
                Field::RequestId,
                Field::ErrorMessage,
                Field::ErrorMessageString,
                Field::ErrorResponseType,
                Field::ErrorValidationErrorString
            ]
        );
        assert!(Format::parse("$context.requestId $context.error.nope").is_err());
    }

    #[test]
    fn authorizer_fields_take_any_key() {
        let f = Format::parse(
            "$context.requestId $context.authorizer.principalId ${context.authorizer.tier} $context.authorizer.claims.email.",
        )
        .unwrap();
        let fields = fields_of(&f);
        assert_eq!(
            fields,
            [
                Field::RequestId,
                Field::Authorizer("principalId".into()),
                Field::Authorizer("tier".into()),
                Field::Authorizer("claims.email".into()),
            ]
        );
        assert!(Format::parse("$context.requestId $context.authorizer.").is_err());
    }

    #[test]
    fn the_default_format_parses() {
        let d = Format::parse(DEFAULT_FORMAT).unwrap();
        assert_eq!(d, Format::default());
        assert!(d.is_json());
    }
}
