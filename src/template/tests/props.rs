//! Property tests: random input never panics, hangs or breaks a limit.

use proptest::prelude::*;

use super::Req;
use crate::template::{Limits, RenderError, Template};

const FRAGMENTS: &[&str] = &[
    "$",
    "$!",
    "${",
    "}",
    "$a",
    "$b",
    "$input",
    "$util",
    "$context",
    "$stageVariables",
    "$foreach",
    "$velocityCount",
    ".",
    ".size()",
    ".get(0)",
    ".put('k', $a)",
    ".add($a)",
    ".length()",
    ".substring(1)",
    ".replaceAll('a+', '$0$0')",
    ".split(',')",
    ".toString()",
    ".keySet()",
    "[0]",
    "['k']",
    "[$a]",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "..",
    "#",
    "##",
    "#*",
    "*#",
    "#[[",
    "]]#",
    "#set(",
    "#set($a = ",
    "#if(",
    "#elseif(",
    "#else",
    "#end",
    "#foreach(",
    "#foreach($x in ",
    " in ",
    "#break",
    "#stop",
    "#{if}",
    "#{end}",
    "#{else}",
    "\\",
    "\\\\",
    "\"",
    "'",
    "\"$a\"",
    "'$a'",
    "\"#if(true)x#end\"",
    "1",
    "-2",
    "3.5",
    "1e3",
    "true",
    "false",
    " ",
    "\n",
    "\t",
    "\r\n",
    "=",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    "and",
    "or",
    "not",
    "eq",
    "x",
    "hello",
    "é",
    "😀",
    "[1..3]",
    "[0..$a]",
    "{'k': [1, 2]}",
    ".json('$')",
    ".path('$.a')",
    ".params()",
    ".params('id')",
    ".body",
    ".escapeJavaScript($a)",
    ".parseJson('{\"a\":[1]}')",
    ".urlEncode('a b')",
    ".base64Decode('aGk=')",
    ".responseOverride.status",
    ".requestOverride.header",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|v| v.concat())
}

fn small_limits() -> Limits {
    Limits {
        max_steps: 20_000,
        max_output_bytes: 64 << 10,
        max_string_bytes: 64 << 10,
        max_render_depth: 64,
        ..Limits::default()
    }
}

fn check(src: &str, body: &str) -> Result<(), TestCaseError> {
    let limits = small_limits();
    match Template::compile_with_limits(src, &limits) {
        Ok(t) => {
            let req = Req::new()
                .body(body)
                .path("id", "1")
                .stage_var("v", "x")
                .limits(limits.clone());
            let input = crate::template::RenderInput {
                body: &req.body,
                params: &req.params,
                stage_variables: &req.stage_variables,
                context: &req.context,
            };
            match t.render(&input, &limits) {
                Ok(out) => prop_assert!(out.output.len() <= limits.max_output_bytes),
                Err(RenderError::Runtime {
                    line,
                    column,
                    message,
                }) => {
                    prop_assert!(line >= 1 && column >= 1 && !message.is_empty());
                }
                Err(RenderError::Limit { .. }) => {}
            }
        }
        Err(e) => {
            prop_assert!(e.line >= 1 && e.column >= 1);
            prop_assert!(
                e.line as usize <= src.split('\n').count() + src.matches('\r').count() + 1
            );
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(src in ".{0,200}") {
        check(&src, "{\"a\": [1, 2]}")?;
    }

    #[test]
    fn token_soups_never_panic(src in soup(), body in prop::sample::select(vec!["", "{\"a\":[1,{\"k\":\"v\"}]}", "not json", "[[[]]]"])) {
        check(&src, body)?;
    }
}
