//! `$input`: body, json(), path(), params(); empty, non-JSON and huge bodies.

use super::{r, rb, render_err, Req};
use crate::template::{LimitKind, Limits, RenderError};

#[test]
fn body_is_raw_and_empty_payload_is_braces() {
    assert_eq!(
        rb("{\"some\": \"value\"}", "$input.body"),
        "{\"some\": \"value\"}"
    );
    assert_eq!(rb("not json", "$input.body"), "not json");
    assert_eq!(r("$input.body"), "{}");
    assert_eq!(r("#set($b = $input.body)$b.length()"), "2");
    assert_eq!(
        rb("some raw data", "$input.body.testAccess|$input.getBody()"),
        "|some raw data"
    );
    assert_eq!(
        Req {
            body: vec![0xff, b'a'],
            ..Req::new()
        }
        .render("$input.body"),
        "\u{FFFD}a"
    );
}

#[test]
fn json_and_path_on_json_bodies() {
    let b = r#"{"a": {"b": [1, 2, {"c": "x"}]}, "items": [{"id": 1}, {"id": 2}], "s": "v"}"#;
    assert_eq!(
        rb(b, "$input.json('$')"),
        r#"{"a":{"b":[1,2,{"c":"x"}]},"items":[{"id":1},{"id":2}],"s":"v"}"#
    );
    assert_eq!(rb(b, "$input.json('$.a.b[2]')"), r#"{"c":"x"}"#);
    assert_eq!(rb(b, "$input.json(\"$.s\")"), r#""v""#);
    assert_eq!(rb(b, "$input.path('$.a.b[2].c')"), "x");
    assert_eq!(rb(b, "$input.path('$.a.b').size()"), "3");
    assert_eq!(rb(b, "$input.path('$.items[*].id')"), "[1,2]");
    assert_eq!(rb(b, "$input.path('$..id')"), "[1,2]");
    assert_eq!(rb(b, "$input.path('$.a.b.length()')"), "3");
    assert_eq!(rb(b, "$input.path('$.items')[1].id"), "2");
    assert_eq!(
        rb(b, "$input.path('a.b[0]')"),
        "1",
        "Jayway puts $. in front"
    );
    assert_eq!(rb(b, "#set($p = '$.s')$input.path($p)"), "v");
    assert_eq!(
        rb(
            b,
            "#foreach($i in [0..1])$input.path(\"$.items[$i].id\")#end"
        ),
        "12"
    );
    assert_eq!(
        rb(b, "#set($root = $input.path('$'))$root.a.b[0] $root.s"),
        "1 v"
    );
}

#[test]
fn missing_paths() {
    let b = r#"{"a": 1}"#;
    assert_eq!(rb(b, "$input.json('$.missing')"), "\"\"");
    assert_eq!(rb(b, "[$input.path('$.missing')]"), "[]");
    assert_eq!(rb(b, "$input.json('$.message').testAccess"), "");
    assert_eq!(rb(b, "$input.path('$.missing[*]')"), "[]");
}

#[test]
fn non_json_bodies() {
    assert_eq!(rb("not json", "$input.json('$.message')"), "\"\"");
    assert_eq!(rb("not json", "$input.json('$')"), "\"\"");
    assert_eq!(rb("not json", "[$input.path('$')]"), "[]");
    assert_eq!(rb("\"#foobar123\"", "$input.json('$.message')"), "\"\"");
    assert_eq!(rb("\"#foobar123\"", "$input.json('$')"), "\"#foobar123\"");
    assert_eq!(rb("\"#foobar123\"", "$input.path('$').length()"), "10");
    assert_eq!(rb("42", "$input.path('$')"), "42");
}

#[test]
fn empty_body_is_an_empty_object_for_json_and_path() {
    assert_eq!(r("$input.json('$')"), "{}");
    assert_eq!(r("$input.path('$')"), "{}");
    assert_eq!(r("$input.json('$.x')"), "\"\"");
    assert_eq!(r("[$input.path('$.x')]"), "[]");
    assert_eq!(
        rb("  \n", "$input.json('$')"),
        "\"\"",
        "only a truly empty payload is {{}}"
    );
}

#[test]
fn invalid_jsonpath_is_a_render_error_only_when_evaluated() {
    let req = Req::new().body("{}");
    assert!(matches!(
        render_err(&req, "$input.path('$[')"),
        RenderError::Runtime { .. }
    ));
    assert!(matches!(
        render_err(&req, "#set($p = '$.a[')$input.json($p)"),
        RenderError::Runtime { .. }
    ));
    assert_eq!(req.render("#if(false)$input.path('$[')#end ok"), " ok");
}

#[test]
fn body_is_parsed_at_most_once_and_only_when_needed() {
    // a body that is invalid JSON is never looked at when only $input.body is used
    assert_eq!(rb("{{{", "$input.body"), "{{{");
    // many lookups give consistent results from one parse (the document is shared)
    let b = r#"{"l": []}"#;
    assert_eq!(
        rb(
            b,
            "#set($d = $input.path('$.l').add(1))$input.path('$.l') $input.json('$.l')"
        ),
        "[1] [1]"
    );
}

#[test]
fn huge_bodies() {
    // ~5 MB JSON document
    let mut big = String::from("{\"items\": [");
    for i in 0..80_000 {
        if i > 0 {
            big.push(',');
        }
        big.push_str(&format!(
            "{{\"id\": {i}, \"name\": \"item number {i}\", \"tags\": [\"a\", \"b\"]}}"
        ));
    }
    big.push_str("], \"last\": \"end\"}");
    assert!(big.len() > 4_000_000, "{}", big.len());
    let req = Req::new().body(&big);
    assert_eq!(
        req.render(
            "$input.path('$.last') $input.path('$.items').size() $input.json('$.items[59999].id')"
        ),
        "end 80000 59999"
    );
    // printing the whole body goes over the default 1 MiB output limit...
    assert_eq!(
        render_err(&req, "$input.json('$')"),
        RenderError::Limit {
            kind: LimitKind::OutputSize
        }
    );
    assert_eq!(
        render_err(&req, "$input.body"),
        RenderError::Limit {
            kind: LimitKind::OutputSize
        }
    );
    // ...and fits when the limit is raised
    let roomy = Limits {
        max_output_bytes: 64 << 20,
        ..Limits::default()
    };
    let req = req.limits(roomy);
    assert_eq!(req.render("$input.body").len(), big.len());
    let again = req.render("$input.json('$')");
    assert!(
        again.starts_with("{\"items\":[{\"id\":0,\"name\":\"item number 0\""),
        "{}",
        &again[..80]
    );
    // foreach over the big list stops at 1,000 iterations
    assert_eq!(
        req.render("#foreach($i in $input.path('$.items'))x#end")
            .len(),
        1000
    );
    // a non-JSON 5 MB body
    let junk = "x".repeat(5 << 20);
    let req = Req::new().body(&junk).limits(Limits {
        max_output_bytes: 8 << 20,
        ..Limits::default()
    });
    assert_eq!(
        req.render("$input.json('$')|$input.body.length()"),
        format!("\"\"|{}", 5 << 20)
    );
}

#[test]
fn deeply_nested_bodies_are_a_depth_error() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let req = Req::new().body(&deep);
    assert_eq!(
        render_err(&req, "$input.path('$')"),
        RenderError::Limit {
            kind: LimitKind::Depth
        }
    );
    assert_eq!(req.render("$input.body.length()"), "20000");
}

#[test]
fn params() {
    let req = Req::new()
        .path("id", "42")
        .query("id", "q")
        .query("page", "2")
        .header("HeaderFoo", "BAR-Header")
        .header("Content-Type", "application/json");
    assert_eq!(
        req.render("$input.params('id')"),
        "42",
        "path wins over query string"
    );
    assert_eq!(req.render("$input.params('page')"), "2");
    assert_eq!(req.render("$input.params('HeaderFoo')"), "BAR-Header");
    assert_eq!(
        req.render("$input.params('headerfoo')"),
        "BAR-Header",
        "header names ignore case"
    );
    assert_eq!(req.render("[$input.params('nope')]"), "[]");
    assert_eq!(
        req.render("$input.params('nope').length()"),
        "0",
        "missing is an empty string"
    );
    assert_eq!(
        req.render("{\"id\": $input.params().path.id}"),
        "{\"id\": 42}"
    );
    assert_eq!(
        req.render("$input.params()"),
        "{path={id=42}, querystring={id=q, page=2}, header={HeaderFoo=BAR-Header, Content-Type=application/json}}"
    );
    assert_eq!(
        req.render("$input.params().header.get('Content-Type')"),
        "application/json"
    );
    assert_eq!(
        req.render("#foreach($k in $input.params().querystring.keySet())$k=$input.params().querystring.get($k)&#end"),
        "id=q&page=2&"
    );
    let dup = Req::new().query("a", "1").query("a", "2");
    assert_eq!(
        dup.render("$input.params('a') $input.params().querystring"),
        "2 {a=2}"
    );
}
