//! Part of `template` (beside the data flow): the compiled form of a template. Immutable, `Send +
//! Sync`.

use std::sync::Arc;

use super::javaregex::{JavaRegex, Replacement};
use super::jsonpath::JsonPath;

/// Variable slot index (variables are interned at compile time).
pub(crate) type Slot = u32;

/// Fixed slots of the variables API Gateway provides.
pub(crate) const SLOT_INPUT: Slot = 0;
pub(crate) const SLOT_UTIL: Slot = 1;
pub(crate) const SLOT_CONTEXT: Slot = 2;
pub(crate) const SLOT_STAGE_VARIABLES: Slot = 3;
pub(crate) const SLOT_FOREACH: Slot = 4;
pub(crate) const SLOT_VELOCITY_COUNT: Slot = 5;
pub(crate) const SLOT_VELOCITY_HAS_NEXT: Slot = 6;
pub(crate) const BUILTIN_NAMES: [&str; 7] = [
    "input",
    "util",
    "context",
    "stageVariables",
    "foreach",
    "velocityCount",
    "velocityHasNext",
];

/// A statement.
#[derive(Debug)]
pub(crate) enum Node {
    Text(Box<str>),
    Ref(Box<RefNode>),
    Set(Box<SetNode>),
    If(Box<IfNode>),
    Foreach(Box<ForeachNode>),
    Break,
    Stop,
}

/// A reference printed into the output.
#[derive(Debug)]
pub(crate) struct RefNode {
    pub reference: Reference,
    /// Backslashes that print before the reference (half of those in front of it).
    pub prefix: Box<str>,
    /// An odd number of backslashes was in front: print the reference's source text.
    pub escaped: bool,
}

/// `$a.b(..)[i]`
#[derive(Debug)]
pub(crate) struct Reference {
    pub root: Slot,
    pub chain: Vec<Accessor>,
    /// Source text (`$!{a.b}`), printed for escaped references.
    pub literal: Box<str>,
}

#[derive(Debug)]
pub(crate) enum Accessor {
    Property(Box<str>),
    Method(Box<MethodCall>),
    Index(Expr, u32),
}

#[derive(Debug)]
pub(crate) struct MethodCall {
    pub name: Box<str>,
    pub args: Vec<Expr>,
    pub pre: Option<Pre>,
    pub pos: u32,
}

/// Work done at compile time for a call whose argument is a literal.
#[derive(Debug)]
pub(crate) enum Pre {
    /// `replaceAll/replaceFirst/matches/split` with a literal pattern (and replacement).
    Regex(PreRegex),
    /// `$input.json/path` with a literal JSONPath.
    Path(Result<Arc<JsonPath>, String>),
}

#[derive(Debug)]
pub(crate) struct PreRegex {
    pub regex: Result<Arc<JavaRegex>, String>,
    pub replacement: Option<Result<Replacement, String>>,
}

#[derive(Debug)]
pub(crate) struct SetNode {
    pub target: Reference,
    pub value: Expr,
}

#[derive(Debug)]
pub(crate) struct IfNode {
    pub branches: Vec<(Expr, Vec<Node>)>,
    pub otherwise: Option<Vec<Node>>,
}

#[derive(Debug)]
pub(crate) struct ForeachNode {
    pub var: Slot,
    pub iterable: Expr,
    pub body: Vec<Node>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinOp {
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne => 3,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 6,
        }
    }
}

/// An expression (inside directives, method arguments, index brackets).
#[derive(Debug)]
pub(crate) enum Expr {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    /// A double-quoted string with references/directives, rendered at run time.
    Interp(Vec<Node>),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Range(Box<Expr>, Box<Expr>),
    Ref(Box<Reference>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
}
