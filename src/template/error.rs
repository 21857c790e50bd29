//! Part of `template` (beside the data flow): error types of the template engine.

use thiserror::Error;

/// A template that cannot be compiled (a syntax error). Displays as `line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{line}:{column}: {message}")]
pub struct TemplateError {
    /// 1-based line of the offending character.
    pub line: u32,
    /// 1-based column (in characters) of the offending character.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

/// Which limit of [`super::Limits`] a render ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// `max_output_bytes`
    OutputSize,
    /// `max_steps`
    Steps,
    /// `max_render_depth`
    Depth,
    /// `max_foreach_iterations` (only with `ForeachOverflow::Error`)
    ForeachIterations,
    /// `max_string_bytes`
    StringSize,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::OutputSize => "output size limit exceeded",
            LimitKind::Steps => "evaluation step budget exceeded",
            LimitKind::Depth => "nesting depth limit exceeded",
            LimitKind::ForeachIterations => "#foreach iteration limit exceeded",
            LimitKind::StringSize => "string size limit exceeded",
        })
    }
}

/// A render that failed: a limit was hit, or the template raised a run-time error (what Java
/// would throw as an exception: an index out of bounds, an invalid regex, invalid JSON given to
/// `$util.parseJson`, ...). AWS answers such a request with a 500.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RenderError {
    /// A limit of [`super::Limits`] was reached.
    #[error("{kind}")]
    Limit {
        /// Which limit.
        kind: LimitKind,
    },
    /// A run-time failure at a place in the template.
    #[error("{line}:{column}: {message}")]
    Runtime {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What went wrong.
        message: String,
    },
}

/// Failure of [`super::render_case`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CaseError {
    /// The CASE.json document itself is unusable.
    #[error("invalid case file: {0}")]
    InvalidCase(String),
    /// The template has a syntax error (Display gives `line:column: message`).
    #[error("{0}")]
    Syntax(#[from] TemplateError),
    /// Rendering failed.
    #[error("render failed: {0}")]
    Render(#[from] RenderError),
}

/// Internal parse error: a byte offset into the source and a message.
#[derive(Debug, Clone)]
pub(crate) struct PErr {
    pub pos: usize,
    pub msg: String,
}

impl PErr {
    pub(crate) fn new(pos: usize, msg: impl Into<String>) -> PErr {
        PErr {
            pos,
            msg: msg.into(),
        }
    }
}

/// 1-based line and column (in characters) of byte offset `pos` in `src`.
pub(crate) fn line_col(src: &str, pos: usize) -> (u32, u32) {
    let pos = pos.min(src.len());
    let mut line: u32 = 1;
    let mut line_start = 0usize;
    let bytes = src.as_bytes();
    let mut i = 0usize;
    while i < pos {
        match bytes[i] {
            b'\n' => {
                line = line.saturating_add(1);
                line_start = i + 1;
            }
            b'\r' => {
                if i + 1 < bytes.len() && bytes[i + 1] == b'\n' {
                    // counted at the '\n'
                } else {
                    line = line.saturating_add(1);
                    line_start = i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let col = bytes[line_start..pos]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count();
    (
        line,
        u32::try_from(col).unwrap_or(u32::MAX).saturating_add(1),
    )
}
