//! `$util` functions as templates call them.

use super::{r, rb, render_err, Req};
use crate::template::RenderError;

#[test]
fn escape_javascript() {
    assert_eq!(r(r#"$util.escapeJavaScript("it's")"#), r"it\'s");
    assert_eq!(
        rb(
            r#"{"a": "say \"hi\"\n"}"#,
            "$util.escapeJavaScript($input.path('$.a'))"
        ),
        r#"say \"hi\"\n"#
    );
    assert_eq!(
        rb(
            r#"{"a": 1}"#,
            "$util.escapeJavaScript($input.json('$.missing'))"
        ),
        r#"\"\""#
    );
    assert_eq!(r("$util.escapeJavaScript('a/b é')"), r"a\/b \u00E9");
    assert_eq!(r("[$util.escapeJavaScript($undefined)]"), "[]");
    assert_eq!(r("$util.escapeJavaScript(10)"), "10");
}

#[test]
fn parse_json() {
    assert_eq!(
        r(r#"#set($o = $util.parseJson('{"message": "path1", "n": [1, 2]}'))$o.message $o.n $o"#),
        r#"path1 [1,2] {message=path1, n=[1,2]}"#
    );
    assert_eq!(
        r(r#"$util.parseJson('"str"') $util.parseJson('12')"#),
        "str 12"
    );
    assert_eq!(r("[$util.parseJson($undefined)]"), "[]");
    assert!(matches!(
        render_err(&Req::new(), "$util.parseJson('{bad')"),
        RenderError::Runtime { .. }
    ));
}

#[test]
fn url_encode_and_decode() {
    assert_eq!(
        r("$util.urlEncode('x=a+b') | $util.urlDecode('x=a+b')"),
        "x%3Da%2Bb | x=a b"
    );
    assert_eq!(
        rb("{\"some\": \"value\"}", "$util.urlEncode($input.body)"),
        "%7B%22some%22%3A+%22value%22%7D"
    );
    assert_eq!(r("$util.urlEncode($input.body)"), "%7B%7D");
    assert_eq!(r("$util.urlDecode('%E2%82%AC%20+')"), "€  ");
    assert_eq!(r("[$util.urlEncode($undefined)]"), "[]");
    assert!(matches!(
        render_err(&Req::new(), "$util.urlDecode('%G1')"),
        RenderError::Runtime { .. }
    ));
}

#[test]
fn base64() {
    assert_eq!(
        r(r#"$util.base64Encode('{"foo": "bar1"}')"#),
        "eyJmb28iOiAiYmFyMSJ9"
    );
    assert_eq!(
        r("$util.base64Decode('eyJtZXNzYWdlIjogInBhdGgxIn0=')"),
        r#"{"message": "path1"}"#
    );
    assert_eq!(
        r("$util.base64Decode($util.base64Encode('héllo'))"),
        "héllo"
    );
    assert_eq!(r("[$util.base64Encode($undefined)]"), "[]");
    assert!(matches!(
        render_err(&Req::new(), "$util.base64Decode('*')"),
        RenderError::Runtime { .. }
    ));
}

#[test]
fn unknown_util_function_renders_nothing() {
    assert_eq!(r("[$util.nope('x')][$util]"), "[][]");
}
