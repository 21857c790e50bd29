//! How values print: Java `toString()` for maps (`{k=v, k2=v2}`), compact JSON for JSON lists
//! and for everything inside them, Java-style `[a, b]` for Velocity lists, numbers like Java.

use super::{r, rb};

const BODY: &str = r#"{"map": {"bigger": "dict", "to": "test", "with": "separators"},
 "list": [{"foo": "bar"}], "nested": {"list": [{"nested": "bar"}], "map": {"a": 1}},
 "deep": [[{"foo": "bar"}]], "empty": [], "nul": null, "num": 1.50, "int": 42,
 "big": 12345678901234567890, "exp": 1e3, "neg": -0.0, "t": true, "s": "str",
 "mixed": [1, "two", 3.0, null, true, {"k": [1]}], "esc": ["a\"b\\c\nd/é"]}"#;

#[test]
fn maps_print_java_style() {
    assert_eq!(
        rb(BODY, "$input.path('$.map')"),
        "{bigger=dict, to=test, with=separators}"
    );
    assert_eq!(rb(BODY, "$input.path('$.nested.map')"), "{a=1}");
    assert_eq!(rb("{}", "$input.path('$')"), "{}");
}

#[test]
fn lists_print_as_compact_json() {
    assert_eq!(rb(BODY, "$input.path('$.list')"), r#"[{"foo":"bar"}]"#);
    assert_eq!(rb(BODY, "$input.path('$.deep')[0]"), r#"[{"foo":"bar"}]"#);
    assert_eq!(rb(BODY, "$input.path('$.empty')"), "[]");
    assert_eq!(
        rb(BODY, "$input.path('$.mixed')"),
        r#"[1,"two",3.0,null,true,{"k":[1]}]"#
    );
    assert_eq!(rb(BODY, "$input.path('$.esc')"), r#"["a\"b\\c\nd/é"]"#);
}

#[test]
fn lists_inside_maps_print_as_json() {
    assert_eq!(
        rb(BODY, "$input.path('$.nested')"),
        r#"{list=[{"nested":"bar"}], map={a=1}}"#
    );
    assert_eq!(
        rb(BODY, "$input.path('$.nested').toString()"),
        r#"{list=[{"nested":"bar"}], map={a=1}}"#
    );
}

#[test]
fn scalars_print_like_java() {
    assert_eq!(rb(BODY, "$input.path('$.num')"), "1.5");
    assert_eq!(rb(BODY, "$input.path('$.int')"), "42");
    assert_eq!(rb(BODY, "$input.path('$.big')"), "12345678901234567890");
    assert_eq!(rb(BODY, "$input.path('$.exp')"), "1000.0");
    assert_eq!(rb(BODY, "$input.path('$.neg')"), "-0.0");
    assert_eq!(rb(BODY, "$input.path('$.t')"), "true");
    assert_eq!(rb(BODY, "$input.path('$.s')"), "str");
}

#[test]
fn null_and_missing_print_nothing() {
    assert_eq!(
        rb(
            BODY,
            "[$input.path('$.nul')][$input.path('$.missing')][$undefined]"
        ),
        "[][][]"
    );
    assert_eq!(
        rb(
            BODY,
            "#set($v = $input.path('$.nul'))#if($v == $null)null#end #if($v == '')empty#end"
        ),
        "null empty"
    );
}

#[test]
fn velocity_lists_print_java_style_with_json_lists_inside() {
    assert_eq!(
        rb(
            BODY,
            "#set($l = [$input.path('$.list'), $input.path('$.map'), 'x'])$l"
        ),
        r#"[[{"foo":"bar"}], {bigger=dict, to=test, with=separators}, x]"#
    );
    assert_eq!(r("#set($l = [[1, 2], ['a']])$l"), "[[1, 2], [a]]");
}

#[test]
fn json_lists_keep_json_printing_after_changes() {
    assert_eq!(
        rb(
            BODY,
            "#set($l = $input.path('$.empty'))#set($d = $l.add('x'))$l"
        ),
        r#"["x"]"#
    );
    assert_eq!(
        rb(
            BODY,
            "#set($m = $input.path('$.map'))#set($d = $m.put('n', [1, 2]))$m.n $m.size()"
        ),
        "[1, 2] 4"
    );
}

#[test]
fn input_json_is_compact_json() {
    assert_eq!(
        rb(BODY, "$input.json('$.nested')"),
        r#"{"list":[{"nested":"bar"}],"map":{"a":1}}"#
    );
    assert_eq!(rb(BODY, "$input.json('$.s')"), r#""str""#);
    assert_eq!(rb(BODY, "$input.json('$.num')"), "1.5");
    assert_eq!(rb(BODY, "$input.json('$.nul')"), "null");
}

#[test]
fn printing_a_huge_cycle_is_bounded() {
    // a list that contains itself prints Java's marker; a map inside a list inside itself is
    // cut by the depth limit instead of recursing forever
    assert_eq!(
        r("#set($l = [])#set($d = $l.add($l))$l"),
        "[(this Collection)]"
    );
    let out =
        super::Req::new().try_render("#set($m = {})#set($l = [$m])#set($d = $m.put('l', $l))$m");
    assert!(out.is_err());
}
