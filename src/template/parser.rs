//! Part of `template` (beside the data flow): scanner-less recursive-descent parser for the
//! Velocity 1.7 template language as API Gateway runs it. Text, references and directives are
//! recognised with Velocity's lexical rules, including its whitespace handling:
//!
//! * `#set(...)` swallows spaces/tabs in front of it when they begin a new text token (start of
//!   the template, or right after another directive, reference or comment), and the closing `)`
//!   of `#set`, `#if`, `#elseif`, `#foreach` swallows trailing spaces/tabs plus one newline;
//! * `#else` and `#end` swallow trailing spaces/tabs plus one newline;
//! * `##` comments swallow their newline.
//!
//! A `$` or `#` that does not begin a reference or directive is text. Recursion is bounded by
//! `max_depth`, so deeply nested input is an error, not a stack overflow.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::ast::{
    Accessor, BinOp, Expr, ForeachNode, IfNode, MethodCall, Node, Pre, PreRegex, RefNode,
    Reference, SetNode, Slot, BUILTIN_NAMES, SLOT_INPUT,
};
use super::error::PErr;
use super::javaregex::{JavaRegex, Replacement};
use super::jsonpath::JsonPath;

/// Variable names to slots.
pub(crate) struct Interner {
    map: HashMap<Box<str>, Slot>,
    pub names: Vec<Box<str>>,
}

impl Interner {
    fn new() -> Interner {
        let mut i = Interner {
            map: HashMap::new(),
            names: Vec::new(),
        };
        for n in BUILTIN_NAMES {
            i.intern(n);
        }
        i
    }

    fn intern(&mut self, s: &str) -> Slot {
        if let Some(&slot) = self.map.get(s) {
            return slot;
        }
        let slot = self.names.len() as Slot;
        self.names.push(s.into());
        self.map.insert(s.into(), slot);
        slot
    }
}

/// Result of parsing a template.
pub(crate) struct ParseOutput {
    pub nodes: Vec<Node>,
    pub names: Vec<Box<str>>,
}

/// Parses a whole template.
pub(crate) fn parse(src: &str, max_depth: usize, regex_size: usize) -> Result<ParseOutput, PErr> {
    let mut names = Interner::new();
    let mut p = Parser {
        src,
        b: src.as_bytes(),
        pos: 0,
        end: src.len(),
        depth: 0,
        max_depth,
        regex_size,
        names: &mut names,
        pos_override: None,
    };
    let (nodes, _) = p.parse_nodes(Ctx::Top)?;
    Ok(ParseOutput {
        nodes,
        names: names.names,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    If,
    Else,
    Foreach,
}

enum Term {
    Eof,
    End,
    Else,
    ElseIf(Expr),
}

/// Directives of Velocity 1.7 (for escape handling).
fn is_known_directive(name: &str) -> bool {
    matches!(
        name,
        "if" | "elseif"
            | "else"
            | "end"
            | "set"
            | "stop"
            | "foreach"
            | "break"
            | "include"
            | "parse"
            | "macro"
            | "define"
            | "evaluate"
            | "literal"
    )
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn is_directive_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'@'
}

fn find(b: &[u8], from: usize, end: usize, needle: &[u8]) -> Option<usize> {
    if from > end || end > b.len() {
        return None;
    }
    b[from..end]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Replaces `\uXXXX` escapes (the only escapes Velocity 1.7 processes in a double-quoted string).
fn unescape_unicode(raw: &str) -> Cow<'_, str> {
    if !raw.contains("\\u") {
        return Cow::Borrowed(raw);
    }
    let b = raw.as_bytes();
    let mut units: Vec<u16> = Vec::new();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    let mut last = 0;
    let flush_units = |units: &mut Vec<u16>, out: &mut String| {
        if !units.is_empty() {
            out.push_str(&String::from_utf16_lossy(units));
            units.clear();
        }
    };
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'u')
            && i + 6 <= b.len()
            && b[i + 2..i + 6].iter().all(|c| c.is_ascii_hexdigit())
        {
            if last < i {
                flush_units(&mut units, &mut out);
                out.push_str(&raw[last..i]);
            }
            let v = u16::from_str_radix(&raw[i + 2..i + 6], 16).unwrap_or(0xFFFD);
            units.push(v);
            i += 6;
            last = i;
        } else {
            i += 1;
        }
    }
    flush_units(&mut units, &mut out);
    out.push_str(&raw[last..]);
    Cow::Owned(out)
}

fn flush(nodes: &mut Vec<Node>, text: &mut String) {
    if text.is_empty() {
        return;
    }
    if let Some(Node::Text(prev)) = nodes.last_mut() {
        let mut s = String::with_capacity(prev.len() + text.len());
        s.push_str(prev);
        s.push_str(text);
        *prev = s.into_boxed_str();
    } else {
        nodes.push(Node::Text(text.as_str().into()));
    }
    text.clear();
}

struct Parser<'s, 'n> {
    src: &'s str,
    b: &'s [u8],
    pos: usize,
    end: usize,
    depth: usize,
    max_depth: usize,
    regex_size: usize,
    names: &'n mut Interner,
    /// Set when parsing a copy of a string literal: AST positions point at the literal.
    pos_override: Option<u32>,
}

impl<'s> Parser<'s, '_> {
    fn byte(&self, i: usize) -> Option<u8> {
        if i < self.end {
            Some(self.b[i])
        } else {
            None
        }
    }

    fn ast_pos(&self, p: usize) -> u32 {
        self.pos_override
            .unwrap_or_else(|| u32::try_from(p).unwrap_or(u32::MAX))
    }

    fn enter(&mut self, p: usize) -> Result<(), PErr> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(PErr::new(p, "template nested too deeply"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn starts_with(&self, s: &str) -> bool {
        self.pos + s.len() <= self.end && self.b[self.pos..].starts_with(s.as_bytes())
    }

    /// `word` at the cursor, not followed by another word character.
    fn word_is(&self, word: &str) -> bool {
        self.starts_with(word)
            && !self
                .byte(self.pos + word.len())
                .is_some_and(is_directive_char)
    }

    /// Whitespace inside directives (and comments there).
    fn skip_ws(&mut self) {
        loop {
            match self.byte(self.pos) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'#') if self.byte(self.pos + 1) == Some(b'#') => {
                    while let Some(c) = self.byte(self.pos) {
                        self.pos += 1;
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                Some(b'#') if self.byte(self.pos + 1) == Some(b'*') => {
                    match find(self.b, self.pos + 2, self.end, b"*#") {
                        Some(e) => self.pos = e + 2,
                        None => return,
                    }
                }
                _ => return,
            }
        }
    }

    /// Swallows `[ \t]*` followed by one newline, if that is what follows.
    fn eat_line_end(&mut self) {
        let mut q = self.pos;
        while matches!(self.byte(q), Some(b' ' | b'\t')) {
            q += 1;
        }
        match self.byte(q) {
            Some(b'\n') => self.pos = q + 1,
            Some(b'\r') => {
                self.pos = if self.byte(q + 1) == Some(b'\n') {
                    q + 2
                } else {
                    q + 1
                }
            }
            _ => {}
        }
    }

    /// The directive name at `#` position `p` (`#name` or `#{name}`), and where it ends.
    fn directive_word(&self, p: usize) -> Option<(&'s str, usize)> {
        let src: &'s str = self.src;
        if self.byte(p + 1) == Some(b'{') {
            let s = p + 2;
            match self.byte(s) {
                Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
                _ => return None,
            }
            let mut q = s + 1;
            while self.byte(q).is_some_and(is_directive_char) {
                q += 1;
            }
            if self.byte(q) != Some(b'}') {
                return None;
            }
            Some((&src[s..q], q + 1))
        } else {
            let s = p + 1;
            match self.byte(s) {
                Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b'@' => {}
                _ => return None,
            }
            let mut q = s + 1;
            while self.byte(q).is_some_and(is_directive_char) {
                q += 1;
            }
            Some((&src[s..q], q))
        }
    }

    fn parse_nodes(&mut self, ctx: Ctx) -> Result<(Vec<Node>, Term), PErr> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut text = String::new();
        // Start (in `text`) of the current Velocity TEXT token, for #set's whitespace rule.
        let mut tok = 0usize;
        while self.pos < self.end {
            match self.b[self.pos] {
                b'$' => {
                    if let Some(r) = self.reference_here()? {
                        flush(&mut nodes, &mut text);
                        nodes.push(Node::Ref(Box::new(RefNode {
                            reference: r,
                            prefix: "".into(),
                            escaped: false,
                        })));
                        tok = 0;
                    } else {
                        text.push('$');
                        self.pos += 1;
                    }
                }
                b'\\' => {
                    let start = self.pos;
                    let mut q = start;
                    while self.byte(q) == Some(b'\\') {
                        q += 1;
                    }
                    let n = q - start;
                    if self.byte(q) == Some(b'$') {
                        self.pos = q;
                        if let Some(r) = self.reference_here()? {
                            flush(&mut nodes, &mut text);
                            nodes.push(Node::Ref(Box::new(RefNode {
                                reference: r,
                                prefix: "\\".repeat(n / 2).into(),
                                escaped: n % 2 == 1,
                            })));
                            tok = 0;
                            continue;
                        }
                        text.push_str(&self.src[start..=q]);
                        self.pos = q + 1;
                        continue;
                    }
                    if self.byte(q) == Some(b'#') {
                        if let Some((word, word_end)) = self.directive_word(q) {
                            if n % 2 == 1 {
                                if is_known_directive(word) {
                                    text.push_str(&"\\".repeat((n - 1) / 2));
                                    text.push_str(&self.src[q..word_end]);
                                } else {
                                    text.push_str(&self.src[start..word_end]);
                                }
                                self.pos = word_end;
                                tok = text.len();
                                continue;
                            }
                            let control = is_known_directive(word) && word != "set";
                            text.push_str(&"\\".repeat(if control { n / 2 } else { n }));
                            self.pos = q;
                            tok = text.len();
                            continue;
                        }
                    }
                    text.push_str(&self.src[start..q]);
                    self.pos = q;
                    tok = text.len();
                }
                b'#' => {
                    if let Some(term) = self.hash(ctx, &mut nodes, &mut text, &mut tok)? {
                        flush(&mut nodes, &mut text);
                        return Ok((nodes, term));
                    }
                }
                _ => {
                    let start = self.pos;
                    let mut q = start + 1;
                    while q < self.end && !matches!(self.b[q], b'$' | b'#' | b'\\') {
                        q += 1;
                    }
                    text.push_str(&self.src[start..q]);
                    self.pos = q;
                }
            }
        }
        flush(&mut nodes, &mut text);
        Ok((nodes, Term::Eof))
    }

    /// Handles a `#` at the cursor. Returns a block terminator, or None after consuming
    /// something (a comment, a directive, or text).
    fn hash(
        &mut self,
        ctx: Ctx,
        nodes: &mut Vec<Node>,
        text: &mut String,
        tok: &mut usize,
    ) -> Result<Option<Term>, PErr> {
        let p = self.pos;
        match self.byte(p + 1) {
            Some(b'#') => {
                let mut q = p + 2;
                while q < self.end && self.b[q] != b'\n' && self.b[q] != b'\r' {
                    q += 1;
                }
                if q < self.end {
                    q += if self.b[q] == b'\r' && self.byte(q + 1) == Some(b'\n') {
                        2
                    } else {
                        1
                    };
                }
                self.pos = q;
                *tok = text.len();
                return Ok(None);
            }
            Some(b'*') => {
                return match find(self.b, p + 2, self.end, b"*#") {
                    Some(e) => {
                        self.pos = e + 2;
                        *tok = text.len();
                        Ok(None)
                    }
                    None => Err(PErr::new(p, "unterminated comment: missing *#")),
                };
            }
            Some(b'[') if self.byte(p + 2) == Some(b'[') => {
                return match find(self.b, p + 3, self.end, b"]]#") {
                    Some(e) => {
                        text.push_str(&self.src[p + 3..e]);
                        self.pos = e + 3;
                        *tok = text.len();
                        Ok(None)
                    }
                    None => Err(PErr::new(p, "unterminated #[[ block: missing ]]#")),
                };
            }
            _ => {}
        }
        let Some((word, word_end)) = self.directive_word(p) else {
            text.push('#');
            self.pos = p + 1;
            return Ok(None);
        };
        match word {
            "set" => {
                let mut q = word_end;
                while self.byte(q) == Some(b' ') {
                    q += 1;
                }
                if self.byte(q) != Some(b'(') {
                    text.push_str(&self.src[p..word_end]);
                    self.pos = word_end;
                    *tok = text.len();
                    return Ok(None);
                }
                if text.as_bytes()[*tok..]
                    .iter()
                    .all(|&c| c == b' ' || c == b'\t')
                {
                    text.truncate(*tok);
                }
                flush(nodes, text);
                self.pos = q + 1;
                let node = self.set_body()?;
                nodes.push(node);
                *tok = 0;
                Ok(None)
            }
            "if" => {
                flush(nodes, text);
                self.pos = word_end;
                let node = self.if_directive(p)?;
                nodes.push(node);
                *tok = 0;
                Ok(None)
            }
            "elseif" => {
                if ctx != Ctx::If {
                    return Err(PErr::new(p, "#elseif without a matching #if"));
                }
                self.pos = word_end;
                let cond = self.paren_condition("#elseif")?;
                Ok(Some(Term::ElseIf(cond)))
            }
            "else" => {
                if ctx != Ctx::If {
                    return Err(PErr::new(p, "#else without a matching #if"));
                }
                self.pos = word_end;
                self.eat_line_end();
                Ok(Some(Term::Else))
            }
            "end" => {
                if ctx == Ctx::Top {
                    return Err(PErr::new(p, "#end without a matching #if or #foreach"));
                }
                self.pos = word_end;
                self.eat_line_end();
                Ok(Some(Term::End))
            }
            "foreach" => {
                flush(nodes, text);
                self.pos = word_end;
                let node = self.foreach_directive(p)?;
                nodes.push(node);
                *tok = 0;
                Ok(None)
            }
            "break" => {
                flush(nodes, text);
                self.pos = word_end;
                let mut q = self.pos;
                while matches!(self.byte(q), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                    q += 1;
                }
                if self.byte(q) == Some(b'(') {
                    self.pos = q + 1;
                    self.skip_ws();
                    if self.byte(self.pos) == Some(b'$') && self.reference_here()?.is_none() {
                        return Err(PErr::new(self.pos, "expected a reference in #break(...)"));
                    }
                    self.skip_ws();
                    if self.byte(self.pos) != Some(b')') {
                        return Err(PErr::new(self.pos, "expected ')' to close #break("));
                    }
                    self.pos += 1;
                    self.eat_line_end();
                }
                nodes.push(Node::Break);
                *tok = 0;
                Ok(None)
            }
            "stop" => {
                flush(nodes, text);
                self.pos = word_end;
                nodes.push(Node::Stop);
                *tok = 0;
                Ok(None)
            }
            "macro" | "define" | "include" | "parse" | "evaluate" | "literal" => Err(PErr::new(
                p,
                format!(
                    "directive #{} is not supported by API Gateway templates",
                    word
                ),
            )),
            _ => {
                text.push_str(&self.src[p..word_end]);
                self.pos = word_end;
                *tok = text.len();
                Ok(None)
            }
        }
    }

    /// `( expr )` after `#if`/`#elseif`, then the rest of the line if blank.
    fn paren_condition(&mut self, what: &str) -> Result<Expr, PErr> {
        self.skip_ws();
        if self.byte(self.pos) != Some(b'(') {
            return Err(PErr::new(self.pos, format!("expected '(' after {}", what)));
        }
        self.pos += 1;
        let e = self.expr()?;
        self.skip_ws();
        if self.byte(self.pos) != Some(b')') {
            return Err(PErr::new(
                self.pos,
                format!("expected ')' to close {}", what),
            ));
        }
        self.pos += 1;
        self.eat_line_end();
        Ok(e)
    }

    fn if_directive(&mut self, p: usize) -> Result<Node, PErr> {
        let cond = self.paren_condition("#if")?;
        self.enter(p)?;
        let mut branches = Vec::new();
        let mut otherwise = None;
        let (body, mut term) = self.parse_nodes(Ctx::If)?;
        branches.push((cond, body));
        loop {
            match term {
                Term::End => break,
                Term::ElseIf(c) => {
                    let (b, t) = self.parse_nodes(Ctx::If)?;
                    branches.push((c, b));
                    term = t;
                }
                Term::Else => {
                    let (b, t) = self.parse_nodes(Ctx::Else)?;
                    otherwise = Some(b);
                    match t {
                        Term::End => break,
                        _ => return Err(PErr::new(p, "#if without a matching #end")),
                    }
                }
                Term::Eof => return Err(PErr::new(p, "#if without a matching #end")),
            }
        }
        self.leave();
        Ok(Node::If(Box::new(IfNode {
            branches,
            otherwise,
        })))
    }

    fn foreach_directive(&mut self, p: usize) -> Result<Node, PErr> {
        self.skip_ws();
        if self.byte(self.pos) != Some(b'(') {
            return Err(PErr::new(self.pos, "expected '(' after #foreach"));
        }
        self.pos += 1;
        self.skip_ws();
        let var_pos = self.pos;
        let var = match self.byte(self.pos) {
            Some(b'$') => match self.reference_here()? {
                Some(r) if r.chain.is_empty() => r.root,
                _ => {
                    return Err(PErr::new(
                        var_pos,
                        "#foreach needs a simple $variable before 'in'",
                    ))
                }
            },
            _ => return Err(PErr::new(var_pos, "expected a $variable after #foreach(")),
        };
        self.skip_ws();
        if !self.word_is("in") {
            return Err(PErr::new(self.pos, "expected 'in' in #foreach"));
        }
        self.pos += 2;
        let iterable = self.expr()?;
        self.skip_ws();
        if self.byte(self.pos) != Some(b')') {
            return Err(PErr::new(self.pos, "expected ')' to close #foreach"));
        }
        self.pos += 1;
        self.eat_line_end();
        self.enter(p)?;
        let (body, term) = self.parse_nodes(Ctx::Foreach)?;
        if !matches!(term, Term::End) {
            return Err(PErr::new(p, "#foreach without a matching #end"));
        }
        self.leave();
        Ok(Node::Foreach(Box::new(ForeachNode {
            var,
            iterable,
            body,
        })))
    }

    /// After `#set(`.
    fn set_body(&mut self) -> Result<Node, PErr> {
        self.skip_ws();
        let target = match self.byte(self.pos) {
            Some(b'$') => self.reference_here()?,
            _ => None,
        };
        let Some(target) = target else {
            return Err(PErr::new(self.pos, "expected a $reference after #set("));
        };
        self.skip_ws();
        if self.byte(self.pos) != Some(b'=') {
            return Err(PErr::new(self.pos, "expected '=' in #set"));
        }
        self.pos += 1;
        let value = self.expr()?;
        self.skip_ws();
        if self.byte(self.pos) != Some(b')') {
            return Err(PErr::new(self.pos, "expected ')' to close #set"));
        }
        self.pos += 1;
        self.eat_line_end();
        Ok(Node::Set(Box::new(SetNode { target, value })))
    }

    /// A reference at the cursor (`$`), or None (cursor unchanged) when the `$` does not begin
    /// one. Errors once committed (`${name` without `}`, a malformed index or argument list).
    fn reference_here(&mut self) -> Result<Option<Reference>, PErr> {
        let start = self.pos;
        let mut q = start + 1;
        if self.byte(q) == Some(b'!') {
            q += 1;
        }
        let formal = self.byte(q) == Some(b'{');
        if formal {
            q += 1;
        }
        match self.byte(q) {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
            _ => return Ok(None),
        }
        let id_start = q;
        while self.byte(q).is_some_and(is_ident_char) {
            q += 1;
        }
        let root = self.names.intern(&self.src[id_start..q]);
        self.pos = q;
        let chain = self.chain(root)?;
        if formal {
            if self.byte(self.pos) == Some(b'}') {
                self.pos += 1;
            } else {
                return Err(PErr::new(self.pos, "expected '}' to close ${...}"));
            }
        }
        Ok(Some(Reference {
            root,
            chain,
            literal: self.src[start..self.pos].into(),
        }))
    }

    fn looks_like_args(&self, mut q: usize) -> bool {
        while matches!(self.byte(q), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            q += 1;
        }
        let word = |w: &str| {
            q + w.len() <= self.end
                && self.b[q..].starts_with(w.as_bytes())
                && !self.byte(q + w.len()).is_some_and(is_directive_char)
        };
        match self.byte(q) {
            Some(b')' | b'"' | b'\'' | b'$' | b'[' | b'{' | b'(' | b'!' | b'-' | b'0'..=b'9') => {
                true
            }
            Some(b'.') => self.byte(q + 1).is_some_and(|c| c.is_ascii_digit()),
            Some(b't') => word("true"),
            Some(b'f') => word("false"),
            Some(b'n') => word("not"),
            _ => false,
        }
    }

    fn chain(&mut self, root: Slot) -> Result<Vec<Accessor>, PErr> {
        let mut chain = Vec::new();
        loop {
            match self.byte(self.pos) {
                Some(b'[') => {
                    let p = self.pos;
                    self.enter(p)?;
                    self.pos += 1;
                    self.skip_ws();
                    let e = self.expr()?;
                    self.skip_ws();
                    if self.byte(self.pos) != Some(b']') {
                        return Err(PErr::new(self.pos, "expected ']' to close the index"));
                    }
                    self.pos += 1;
                    self.leave();
                    chain.push(Accessor::Index(e, self.ast_pos(p)));
                }
                Some(b'.')
                    if self
                        .byte(self.pos + 1)
                        .is_some_and(|c| c.is_ascii_alphabetic()) =>
                {
                    let p = self.pos;
                    let ns = p + 1;
                    let mut q = ns + 1;
                    while self.byte(q).is_some_and(is_ident_char) {
                        q += 1;
                    }
                    let src: &'s str = self.src;
                    let name = &src[ns..q];
                    if self.byte(q) == Some(b'(') && self.looks_like_args(q + 1) {
                        self.pos = q + 1;
                        self.enter(p)?;
                        let args = self.args()?;
                        self.leave();
                        let pre = self.precompile(root, &chain, name, &args);
                        chain.push(Accessor::Method(Box::new(MethodCall {
                            name: name.into(),
                            args,
                            pre,
                            pos: self.ast_pos(p + 1),
                        })));
                    } else {
                        self.pos = q;
                        chain.push(Accessor::Property(name.into()));
                    }
                }
                _ => break,
            }
        }
        Ok(chain)
    }

    /// Arguments after `(` up to and including `)`.
    fn args(&mut self) -> Result<Vec<Expr>, PErr> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.byte(self.pos) == Some(b')') {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            self.skip_ws();
            match self.byte(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => {
                    return Err(PErr::new(
                        self.pos,
                        "expected ',' or ')' in the argument list",
                    ))
                }
            }
        }
    }

    fn precompile(&self, root: Slot, chain: &[Accessor], name: &str, args: &[Expr]) -> Option<Pre> {
        match name {
            "replaceAll" | "replaceFirst" | "matches" | "split" => {
                let Some(Expr::Str(pat)) = args.first() else {
                    return None;
                };
                let regex = JavaRegex::new(pat, self.regex_size).map(Arc::new);
                if let Err(e) = &regex {
                    tracing::debug!(pattern = %pat, error = %e, "template regex does not compile");
                }
                let replacement = if matches!(name, "replaceAll" | "replaceFirst") {
                    match args.get(1) {
                        Some(Expr::Str(r)) => Some(Replacement::parse(r)),
                        _ => None,
                    }
                } else {
                    None
                };
                Some(Pre::Regex(PreRegex { regex, replacement }))
            }
            "json" | "path" if root == SLOT_INPUT && chain.is_empty() => {
                let Some(Expr::Str(path)) = args.first() else {
                    return None;
                };
                Some(Pre::Path(JsonPath::parse(path).map(Arc::new)))
            }
            _ => None,
        }
    }

    fn expr(&mut self) -> Result<Expr, PErr> {
        let p = self.pos;
        self.enter(p)?;
        let e = self.binary(0)?;
        self.leave();
        Ok(e)
    }

    fn peek_op(&self) -> Option<(BinOp, usize)> {
        let b0 = self.byte(self.pos)?;
        let b1 = self.byte(self.pos + 1);
        Some(match b0 {
            b'|' if b1 == Some(b'|') => (BinOp::Or, 2),
            b'&' if b1 == Some(b'&') => (BinOp::And, 2),
            b'=' if b1 == Some(b'=') => (BinOp::Eq, 2),
            b'!' if b1 == Some(b'=') => (BinOp::Ne, 2),
            b'<' if b1 == Some(b'=') => (BinOp::Le, 2),
            b'>' if b1 == Some(b'=') => (BinOp::Ge, 2),
            b'<' => (BinOp::Lt, 1),
            b'>' => (BinOp::Gt, 1),
            b'+' => (BinOp::Add, 1),
            b'-' => (BinOp::Sub, 1),
            b'*' => (BinOp::Mul, 1),
            b'/' => (BinOp::Div, 1),
            b'%' => (BinOp::Mod, 1),
            b'a'..=b'z' => {
                for (w, op) in [
                    ("or", BinOp::Or),
                    ("and", BinOp::And),
                    ("eq", BinOp::Eq),
                    ("ne", BinOp::Ne),
                    ("lt", BinOp::Lt),
                    ("gt", BinOp::Gt),
                    ("le", BinOp::Le),
                    ("ge", BinOp::Ge),
                ] {
                    if self.word_is(w) {
                        return Some((op, w.len()));
                    }
                }
                return None;
            }
            _ => return None,
        })
    }

    fn binary(&mut self, min: u8) -> Result<Expr, PErr> {
        let mut lhs = self.unary()?;
        loop {
            self.skip_ws();
            let Some((op, len)) = self.peek_op() else {
                break;
            };
            let prec = op.precedence();
            if prec < min {
                break;
            }
            self.pos += len;
            let rhs = self.binary(prec + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, PErr> {
        self.skip_ws();
        let p = self.pos;
        let not =
            (self.byte(p) == Some(b'!') && self.byte(p + 1) != Some(b'=')) || self.word_is("not");
        if not {
            self.pos += if self.byte(p) == Some(b'!') { 1 } else { 3 };
            self.enter(p)?;
            let e = self.unary()?;
            self.leave();
            return Ok(Expr::Not(Box::new(e)));
        }
        if self.byte(p) == Some(b'-')
            && !self
                .byte(p + 1)
                .is_some_and(|c| c.is_ascii_digit() || c == b'.')
        {
            self.pos += 1;
            self.enter(p)?;
            let e = self.unary()?;
            self.leave();
            return Ok(Expr::Neg(Box::new(e)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, PErr> {
        self.skip_ws();
        let p = self.pos;
        match self.byte(p) {
            None => Err(PErr::new(p, "unexpected end of template in an expression")),
            Some(b'"') => self.dq_string(),
            Some(b'\'') => {
                let Some(e) = find(self.b, p + 1, self.end, b"'") else {
                    return Err(PErr::new(p, "unterminated string literal"));
                };
                self.pos = e + 1;
                Ok(Expr::Str(Arc::from(&self.src[p + 1..e])))
            }
            Some(b'$') => match self.reference_here()? {
                Some(r) => Ok(Expr::Ref(Box::new(r))),
                None => Err(PErr::new(p, "expected a reference after '$'")),
            },
            Some(b'0'..=b'9' | b'-' | b'.') => self.number(),
            Some(b'[') => self.list_or_range(),
            Some(b'{') => self.map_literal(),
            Some(b'(') => {
                self.pos += 1;
                let e = self.expr()?;
                self.skip_ws();
                if self.byte(self.pos) != Some(b')') {
                    return Err(PErr::new(self.pos, "expected ')'"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(_) if self.word_is("true") => {
                self.pos += 4;
                Ok(Expr::Bool(true))
            }
            Some(_) if self.word_is("false") => {
                self.pos += 5;
                Ok(Expr::Bool(false))
            }
            Some(c) => {
                let shown = self
                    .src
                    .get(p..)
                    .and_then(|t| t.chars().next())
                    .unwrap_or(char::from(c));
                Err(PErr::new(
                    p,
                    format!("unexpected {:?} in an expression", shown),
                ))
            }
        }
    }

    fn number(&mut self) -> Result<Expr, PErr> {
        let start = self.pos;
        let mut q = start;
        if self.byte(q) == Some(b'-') {
            q += 1;
        }
        let int_start = q;
        while self.byte(q).is_some_and(|c| c.is_ascii_digit()) {
            q += 1;
        }
        let mut float = false;
        if self.byte(q) == Some(b'.')
            && self.byte(q + 1) != Some(b'.')
            && (q > int_start || self.byte(q + 1).is_some_and(|c| c.is_ascii_digit()))
        {
            float = true;
            q += 1;
            while self.byte(q).is_some_and(|c| c.is_ascii_digit()) {
                q += 1;
            }
        }
        if q == int_start {
            return Err(PErr::new(start, "expected a number"));
        }
        if matches!(self.byte(q), Some(b'e' | b'E')) {
            let mut r = q + 1;
            if matches!(self.byte(r), Some(b'+' | b'-')) {
                r += 1;
            }
            if self.byte(r).is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                q = r;
                while self.byte(q).is_some_and(|c| c.is_ascii_digit()) {
                    q += 1;
                }
            }
        }
        let text = &self.src[start..q];
        self.pos = q;
        if float {
            match text.parse::<f64>() {
                Ok(f) => Ok(Expr::Float(f)),
                Err(_) => Err(PErr::new(start, "invalid number")),
            }
        } else {
            match text.parse::<i64>() {
                Ok(i) => Ok(Expr::Int(i)),
                Err(_) => Err(PErr::new(start, "integer literal out of range")),
            }
        }
    }

    fn list_or_range(&mut self) -> Result<Expr, PErr> {
        let p = self.pos;
        self.pos += 1;
        self.enter(p)?;
        self.skip_ws();
        if self.byte(self.pos) == Some(b']') {
            self.pos += 1;
            self.leave();
            return Ok(Expr::List(Vec::new()));
        }
        let first = self.expr()?;
        self.skip_ws();
        if self.starts_with("..") {
            self.pos += 2;
            let second = self.expr()?;
            self.skip_ws();
            if self.byte(self.pos) != Some(b']') {
                return Err(PErr::new(self.pos, "expected ']' to close the range"));
            }
            self.pos += 1;
            self.leave();
            return Ok(Expr::Range(Box::new(first), Box::new(second)));
        }
        let mut items = vec![first];
        loop {
            self.skip_ws();
            match self.byte(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    items.push(self.expr()?);
                }
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(PErr::new(self.pos, "expected ',' or ']' in the list")),
            }
        }
        self.leave();
        Ok(Expr::List(items))
    }

    fn map_literal(&mut self) -> Result<Expr, PErr> {
        let p = self.pos;
        self.pos += 1;
        self.enter(p)?;
        self.skip_ws();
        let mut entries = Vec::new();
        if self.byte(self.pos) == Some(b'}') {
            self.pos += 1;
            self.leave();
            return Ok(Expr::Map(entries));
        }
        loop {
            let k = self.expr()?;
            self.skip_ws();
            if self.byte(self.pos) != Some(b':') {
                return Err(PErr::new(self.pos, "expected ':' in the map"));
            }
            self.pos += 1;
            let v = self.expr()?;
            entries.push((k, v));
            self.skip_ws();
            match self.byte(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(PErr::new(self.pos, "expected ',' or '}' in the map")),
            }
        }
        self.leave();
        Ok(Expr::Map(entries))
    }

    /// A double-quoted string: `\"` and `\\` do not end it, `\uXXXX` is decoded, and when it
    /// contains `$` or `#` it is a template of its own, rendered when evaluated.
    fn dq_string(&mut self) -> Result<Expr, PErr> {
        let start = self.pos;
        let mut q = start + 1;
        loop {
            match self.byte(q) {
                None => return Err(PErr::new(start, "unterminated string literal")),
                Some(b'"') => break,
                Some(b'\\') if matches!(self.byte(q + 1), Some(b'"' | b'\\')) => q += 2,
                Some(_) => q += 1,
            }
        }
        let (cs, ce) = (start + 1, q);
        self.pos = q + 1;
        let src: &'s str = self.src;
        let raw = &src[cs..ce];
        let content = unescape_unicode(raw);
        if !content.contains('$') && !content.contains('#') {
            return Ok(Expr::Str(Arc::from(&*content)));
        }
        self.enter(start)?;
        let nodes = match content {
            Cow::Borrowed(_) => {
                let (save_pos, save_end) = (self.pos, self.end);
                self.pos = cs;
                self.end = ce;
                let r = self.parse_nodes(Ctx::Top);
                self.pos = save_pos;
                self.end = save_end;
                r?.0
            }
            Cow::Owned(s) => {
                let at = self.ast_pos(start);
                let mut sub = Parser {
                    src: &s,
                    b: s.as_bytes(),
                    pos: 0,
                    end: s.len(),
                    depth: self.depth,
                    max_depth: self.max_depth,
                    regex_size: self.regex_size,
                    names: &mut *self.names,
                    pos_override: Some(at),
                };
                match sub.parse_nodes(Ctx::Top) {
                    Ok((n, _)) => n,
                    Err(e) => return Err(PErr::new(start, e.msg)),
                }
            }
        };
        self.leave();
        if nodes.iter().all(|n| matches!(n, Node::Text(_))) {
            let mut s = String::new();
            for n in &nodes {
                if let Node::Text(t) = n {
                    s.push_str(t);
                }
            }
            return Ok(Expr::Str(Arc::from(s)));
        }
        Ok(Expr::Interp(nodes))
    }
}
