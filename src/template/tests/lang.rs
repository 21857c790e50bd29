//! The Velocity language: references, literals, operators, directives, whitespace, escapes,
//! comments, and the Java methods templates call.

use super::{compile_err, r, render_err, Req};
use crate::template::RenderError;

#[test]
fn references_simple_formal_quiet() {
    assert_eq!(r("#set($x = 'a')$x|${x}|$!x|$!{x}|${x}b"), "a|a|a|a|ab");
    assert_eq!(
        r("#set($x = 'a')$xb"),
        "",
        "$xb is another (undefined) variable"
    );
    assert_eq!(
        r("[$undefined][$!undefined][${undefined}][$!{undefined}]"),
        "[][][][]"
    );
    assert_eq!(r("$undefined.foo.bar()[0].baz"), "");
}

#[test]
fn dollar_and_hash_that_start_nothing_are_text() {
    assert_eq!(r("Price: $5.00"), "Price: $5.00");
    assert_eq!(
        r("#hashtag and # alone and #1"),
        "#hashtag and # alone and #1"
    );
    assert_eq!(
        r("'$.a' and \"$['b']\" and $"),
        "'$.a' and \"$['b']\" and $"
    );
    assert_eq!(
        r("$! and ${ and $!{ and $[0]"),
        "$! and ${ and $!{ and $[0]"
    );
    assert_eq!(r("a#{notadirective}b"), "a#{notadirective}b");
    assert_eq!(
        r("#setx #iffy #endless #elsewhere"),
        "#setx #iffy #endless #elsewhere"
    );
    assert_eq!(r("#set without paren"), "#set without paren");
}

#[test]
fn property_method_and_index_chains() {
    assert_eq!(r(r#"#set($m = {"a": {"b": 1}})$m.a.b"#), "1");
    assert_eq!(r(r#"#set($s = "Hello")$s.toUpperCase().length()"#), "5");
    assert_eq!(r(r#"#set($l = [1, 2, 3])$l[1] $l.get(2)"#), "2 3");
    assert_eq!(
        r(r#"#set($m = {"a": {"b": 1}})$m['a'].b $m["a"]["b"]"#),
        "1 1"
    );
    assert_eq!(
        r(r#"#set($m = {"a": {"b": 1}})#set($k = 'a')$m[$k].b ${m[$k].b}"#),
        "1 1"
    );
    assert_eq!(r(r#"#set($l = [[1, 2], [3]])$l[0][1]"#), "2");
    assert_eq!(
        r("#set($x = 'a')$x. $x.1 $x.(y) $x..z"),
        "a. a.1 a.(y) a..z"
    );
    assert_eq!(r("#set($x = 'a')$x (x) $x.toUpperCase (y)"), "a (x)  (y)");
    assert_eq!(r("#set($x = 'abc')$x.substring(1) $x.bogus()"), "bc ");
}

#[test]
fn identifiers_may_contain_hyphens_as_in_velocity_1_7() {
    assert_eq!(r("#set($a-b = 1)$a-b"), "1");
    assert_eq!(r("#set($a = 5)$a-1|$a -1"), "|5 -1");
    assert_eq!(r("#set($a = 5)#set($b = $a - 1)$b"), "4");
}

#[test]
fn string_literals() {
    assert_eq!(
        r(r#"#set($n = "world")#set($s = "hello $n")$s"#),
        "hello world"
    );
    assert_eq!(
        r(r#"#set($n = "world")#set($s = 'hello $n')$s"#),
        "hello $n"
    );
    assert_eq!(r(r#"#set($n = "w")#set($s = "${n}x $!{n}y")$s"#), "wx wy");
    assert_eq!(
        r(r#"#set($s = "a\"b")$s"#),
        r#"a\"b"#,
        "Velocity keeps the backslash"
    );
    assert_eq!(r(r#"#set($s = "\u0041\u00e9")$s"#), "Aé");
    assert_eq!(r(r#"#set($s = "tab\there")$s"#), r"tab\there");
    assert_eq!(r(r##"#set($s = "#if(true)yes#{else}no#end")$s"##), "yes");
    assert_eq!(r(r#"#set($s = "$.records[0]")$s"#), "$.records[0]");
    assert_eq!(
        r(r#"#set($i = 2)#set($s = "$.records[${i}]")$s"#),
        "$.records[2]"
    );
    assert_eq!(r(r#"#set($s = "$undefined!")$s"#), "!");
    assert_eq!(r("#set($s = 'multi\nline')$s"), "multi\nline");
}

#[test]
fn numbers_print_like_java() {
    assert_eq!(
        r("#set($i = 5)$i|#set($f = 1.5)$f|#set($g = 2.0)$g|#set($h = -3)$h"),
        "5|1.5|2.0|-3"
    );
    assert_eq!(
        r("#set($e = 1e3)$e|#set($s = 1.0E7)$s|#set($t = .5)$t"),
        "1000.0|1.0E7|0.5"
    );
}

#[test]
fn arithmetic() {
    let cases = [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("7 / 2", "3"),
        ("-7 / 2", "-3"),
        ("7 % 3", "1"),
        ("-7 % 3", "-1"),
        ("7.0 / 2", "3.5"),
        ("1 + 1.5", "2.5"),
        ("10 - 2 - 3", "5"),
        ("2 * 3 % 4", "2"),
        ("9223372036854775807 + 1", "9.223372036854776E18"),
        ("'a' + 1", "a1"),
        ("1 + 'a'", "1a"),
        ("'a' + true", "atrue"),
        ("'x' + [1, 2]", "x[1, 2]"),
    ];
    for (expr, want) in cases {
        assert_eq!(r(&format!("#set($x = {expr})$x")), want, "{expr}");
    }
    // null results leave the variable undefined (the #set does nothing)
    assert_eq!(
        r("#set($x = 1 / 0)$x|#set($y = 1 % 0)$y|#set($z = [] + 1)$z"),
        "||"
    );
    // a null operand of string concatenation contributes its source text (Velocity 1.7)
    assert_eq!(r("#set($x = $nothing + 'a')$x"), "$nothinga");
    assert_eq!(r("#set($x = 'a' + $no.thing)$x"), "a$no.thing");
    assert_eq!(r("#set($n = 3)#set($x = -$n)$x"), "-3");
}

#[test]
fn comparisons_and_logic() {
    let yes = |cond: &str| r(&format!("#if({cond})y#{{else}}n#end"));
    for c in [
        "1 < 2",
        "2 <= 2",
        "3 > 2",
        "3 >= 3",
        "1 lt 2",
        "2 le 2",
        "3 gt 2",
        "3 ge 3",
        "1 == 1",
        "1 eq 1.0",
        "1 != 2",
        "1 ne 2",
        "'a' == 'a'",
        "'1' == 1",
        "true == true",
        "'true' == true",
        "true && true",
        "true and true",
        "false || true",
        "false or true",
        "!false",
        "not false",
        "! false",
        "$undef == $null",
        "$undef == ''",
        "$undef == \"\"",
        "[1, 2] == [1, 2]",
        "{'a': 1} == {'a': 1}",
        "1 < 2 && 2 < 3 || false",
        "!($undef)",
        "'' == $undef",
    ] {
        assert_eq!(yes(c), "y", "{c}");
    }
    for c in [
        "2 < 1",
        "'a' < 'b'",
        "$undef < 1",
        "1 == 2",
        "'a' == 'b'",
        "$undef != ''",
        "$undef != $null",
        "'x' == $undef",
        "false && $undef.boom()",
        "[1] == [2]",
        "'1' == 2",
        "0 == ''",
        "[] == ''",
        "[] == $null",
        "!true",
        "not true",
        "true && false",
    ] {
        assert_eq!(yes(c), "n", "{c}");
    }
    assert_eq!(r("#set($b = 1 == 1)$b|#set($c = !true)$c"), "true|false");
    // a #set swallows the spaces between a reference and itself (they start a new token)
    assert_eq!(r("#set($b = 1)$b   #set($c = 2)$c"), "12");
}

#[test]
fn truthiness_is_velocity_1_7() {
    let t = |v: &str| r(&format!("#set($v = {v})#if($v)y#{{else}}n#end"));
    assert_eq!(t("''"), "y", "empty string is true");
    assert_eq!(t("0"), "y", "zero is true");
    assert_eq!(t("[]"), "y", "empty list is true");
    assert_eq!(t("false"), "n");
    assert_eq!(r("#if($undefined)y#{else}n#end"), "n");
}

#[test]
fn lists_maps_ranges() {
    assert_eq!(
        r(r#"#set($l = [1, "a", 2.5, true])$l"#),
        "[1, a, 2.5, true]"
    );
    assert_eq!(r(r#"#set($m = {"a": 1, "b": "x"})$m"#), "{a=1, b=x}");
    assert_eq!(r("#set($l = [])$l|#set($m = {})$m"), "[]|{}");
    assert_eq!(
        r("#set($r = [1..3])$r|#set($d = [3..1])$d"),
        "[1, 2, 3]|[3, 2, 1]"
    );
    assert_eq!(r("#set($n = 2)#set($r = [0..$n])$r"), "[0, 1, 2]");
    assert_eq!(r("#set($r = [-1..1])$r"), "[-1, 0, 1]");
    assert_eq!(
        r(r#"#set($m = {"k": [1, {"x": "y"}]})$m"#),
        "{k=[1, {x=y}]}"
    );
    // Velocity map literals are java.util.HashMap: iteration follows the hash buckets
    assert_eq!(r(r#"#set($m = {"id": 1, "b": 2})$m"#), "{b=2, id=1}");
    assert_eq!(r(r#"#set($k = "key")#set($m = {$k: 1})$m.key"#), "1");
}

#[test]
fn set_forms() {
    assert_eq!(r("#set($m = {})#set($m.k = 'v')$m.k"), "v");
    assert_eq!(r("#set($m = {})#set($m['k2'] = 'w')$m.k2"), "w");
    assert_eq!(
        r("#set($m = {})#set($k = 'dyn')#set($m[$k] = 1)$m.dyn"),
        "1"
    );
    assert_eq!(
        r("#set($m = {'a': {}})#set($m.a.b = 'deep')$m.a.b $m"),
        "deep {a={b=deep}}"
    );
    assert_eq!(r("#set($l = [1, 2])#set($l[0] = 9)$l"), "[9, 2]");
    assert_eq!(
        r("#set($x = 1)#set($x = $undefined)$x"),
        "1",
        "null RHS leaves the variable"
    );
    assert_eq!(r("#set($m = {})#set($m.k = $undefined)$m.size()"), "0");
    assert_eq!(
        r("#set($u.k = 1)$u"),
        "",
        "setting through an undefined reference does nothing"
    );
    assert_eq!(r("#set( $a = 1 )$a#set($b=2)$b#{set}($c = 3)$c"), "123");
    // aliasing: maps and lists are references, as in Java
    assert_eq!(r("#set($a = {})#set($b = $a)#set($b.k = 1)$a"), "{k=1}");
    assert_eq!(r("#set($l = [])#set($d = $l.add('x'))$l $d"), "[x] true");
}

#[test]
fn set_list_index_out_of_bounds_is_an_error() {
    let e = render_err(&Req::new(), "#set($l = [1])\n#set($l[5] = 2)");
    assert!(matches!(e, RenderError::Runtime { line: 2, .. }), "{e:?}");
}

#[test]
fn if_elseif_else() {
    let t = "#if($v == 1)one#elseif($v == 2)two#elseif($v == 3)three#{else}other#end";
    for (v, want) in [("1", "one"), ("2", "two"), ("3", "three"), ("4", "other")] {
        assert_eq!(r(&format!("#set($v = {v}){t}")), want);
    }
    assert_eq!(r("#{if}(true)yes#{else}no#{end}"), "yes");
    assert_eq!(r("#if(true)#if(false)a#{else}b#end#end"), "b");
    assert_eq!(r("#if (true)spaced#end"), "spaced");
}

#[test]
fn foreach_and_loop_variables() {
    assert_eq!(
        r("#foreach($x in [1, 2, 3])$x#if($foreach.hasNext),#end#end"),
        "1,2,3"
    );
    assert_eq!(
        r("#foreach($x in ['a', 'b'])$foreach.index:$foreach.count:$velocityCount:$velocityHasNext:$foreach.first:$foreach.last #end"),
        "0:1:1:true:true:false 1:2:2:false:false:true "
    );
    assert_eq!(
        r("#foreach($a in [1, 2])#foreach($b in ['x', 'y'])$foreach.parent.count$b#end;#end"),
        "1x1y;2x2y;"
    );
    assert_eq!(
        r("#foreach($i in [1..5])#if($i == 3)#break#end$i#end after"),
        "12 after"
    );
    assert_eq!(r("#set($x = 'orig')#foreach($x in [1, 2])#end$x"), "orig");
    assert_eq!(r("#foreach($x in [1, 2])#end[$x][$foreach.count]"), "[][]");
    assert_eq!(
        r("#foreach($x in $undefined)never#end#foreach($x in 'str')never#end done"),
        " done"
    );
    assert_eq!(
        r(r#"#set($m = {"a": 1, "b": 2})#foreach($v in $m)$v#end"#),
        "12"
    );
    assert_eq!(
        r(r#"#set($m = {"a": 1, "b": 2})#foreach($k in $m.keySet())$k=$m.get($k);#end"#),
        "a=1;b=2;"
    );
    assert_eq!(r("#foreach($i in [3..1])$i#end"), "321");
    assert_eq!(r("#set($n = 0)#foreach($i in [1..$n])$i#end"), "10");
    assert_eq!(r("#foreach($x in [1, $undefined, 3])[$x]#end"), "[1][][3]");
    assert_eq!(r("#foreach ( $x in [1] )$x#end"), "1");
}

#[test]
fn break_outside_a_loop_and_stop_end_the_template() {
    assert_eq!(r("a#stop b"), "a");
    assert_eq!(r("a#if(true)b#stop c#end d"), "ab");
    assert_eq!(r("#foreach($i in [1, 2])$i#stop#end never"), "1");
    assert_eq!(r("a#break b"), "a");
    assert_eq!(
        r("#foreach($i in [1, 2])#foreach($j in [1, 2])$i$j#break#end#end"),
        "1121"
    );
}

#[test]
fn comments_and_unparsed_blocks() {
    assert_eq!(r("a## comment\nb"), "ab");
    assert_eq!(r("a## comment at end"), "a");
    assert_eq!(r("a#* block\n $x #if *#b"), "ab");
    assert_eq!(r("a#** doc *#b"), "ab");
    assert_eq!(r("#[[ $x #if(true) ## ]]#"), " $x #if(true) ## ");
    assert_eq!(r("#set($a = 1 ## comment in a directive\n)$a"), "1");
}

#[test]
fn escapes() {
    assert_eq!(r("#set($x = 'v')\\$x|\\$!x|\\${x}"), "$x|$!x|${x}");
    assert_eq!(
        r("\\$undef"),
        "\\$undef",
        "an escaped undefined reference keeps its backslash"
    );
    assert_eq!(r("#set($x = 'v')\\\\$x|\\\\$undef"), "\\v|\\");
    assert_eq!(r("#set($x = 'v')\\\\\\$x"), "\\$x");
    assert_eq!(
        r("\\#if(true)\\#end \\#foo \\#set"),
        "#if(true)#end \\#foo #set"
    );
    assert_eq!(r("#set($x = 'v')\\#if($x)"), "#if(v)");
    assert_eq!(r("\\\\#if(true)y#end"), "\\y");
    assert_eq!(r("a\\b a\\\\b \\ end\\"), "a\\b a\\\\b \\ end\\");
    assert_eq!(r("\\$5"), "\\$5");
}

#[test]
fn whitespace_gobbling_follows_velocity_1_7() {
    // #set lines disappear completely
    assert_eq!(r("#set($a = 1)\nx"), "x");
    assert_eq!(r("  #set($a = 1)\nx"), "x");
    assert_eq!(r("#set($a = 1)   \r\nx"), "x");
    assert_eq!(r("#set($a = 1) x"), " x");
    assert_eq!(r("#if(true)\n    #set($a = 1)\n#end\nx"), "x");
    // ...but the indentation before a #set that follows plain text stays (one text token)
    assert_eq!(r("a\n  #set($a = 1)\nx"), "a\n  x");
    // #if/#foreach/#else/#end eat the rest of their line, not their indentation
    assert_eq!(r("#if(true)\n  yes\n#end\n"), "  yes\n");
    assert_eq!(r("  #if(true)\nyes\n  #end\n"), "  yes\n  ");
    assert_eq!(r("#if(false)\na\n#else\nb\n#end\nc"), "b\nc");
    assert_eq!(r("#foreach($i in [1, 2])\n$i\n#end\n"), "1\n2\n");
    assert_eq!(r("#if(true) x#end"), " x");
    assert_eq!(r("#if(true)\t \nx#end"), "x");
}

#[test]
fn syntax_errors_have_line_and_column() {
    assert_eq!(
        compile_err("#if(true)\nno end"),
        "1:1: #if without a matching #end"
    );
    assert_eq!(
        compile_err("ok\n  #end"),
        "2:3: #end without a matching #if or #foreach"
    );
    assert_eq!(compile_err("#else"), "1:1: #else without a matching #if");
    assert!(compile_err("#set($a = )").starts_with("1:11:"));
    assert!(compile_err("#set(a = 1)").starts_with("1:6:"));
    assert!(compile_err("#foreach($x in)\n#end").starts_with("1:15:"));
    assert!(compile_err("#foreach($x of [1])#end").starts_with("1:13:"));
    assert!(compile_err("x ${a").starts_with("1:6:"));
    assert!(compile_err("$a[").starts_with("1:4:"));
    assert!(compile_err("$a[x]").starts_with("1:4:"));
    assert!(compile_err("#set($a = \"unterminated)").starts_with("1:11:"));
    assert!(compile_err("#* never closed").starts_with("1:1:"));
    assert!(compile_err("#[[ never closed").starts_with("1:1:"));
    assert!(compile_err("#if you like").starts_with("1:5:"));
    assert!(compile_err("#macro(m)x#end").contains("not supported"));
    assert!(
        compile_err("é\n\téé #end").starts_with("2:5:"),
        "columns count characters"
    );
    assert!(compile_err("#set($a = $b.c(1 2))").starts_with("1:18:"));
    assert!(compile_err("#if(true)#{else}#else#end").contains("#else"));
    assert!(compile_err("#foreach($i in [1])#{else}#end").contains("#else"));
    assert!(compile_err("#set($a = 99999999999999999999)").contains("out of range"));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep_if = "#if(true)".repeat(100_000);
    assert!(compile_err(&deep_if).contains("nested too deeply"));
    let deep_paren = format!("#set($a = {}1{})", "(".repeat(100_000), ")".repeat(100_000));
    assert!(compile_err(&deep_paren).contains("nested too deeply"));
    let deep_not = format!("#if({}true)#end", "!".repeat(100_000));
    assert!(compile_err(&deep_not).contains("nested too deeply"));
    let deep_list = format!("#set($a = {}{})", "[".repeat(100_000), "]".repeat(100_000));
    assert!(compile_err(&deep_list).contains("nested too deeply"));
    let deep_index = format!("$a{}", "[$a".repeat(100_000));
    assert!(compile_err(&deep_index).contains("nested too deeply"));
    let deep_method = format!("$a{}", ".b($a".repeat(100_000));
    assert!(compile_err(&deep_method).contains("nested too deeply"));
    let deep_string = format!("#set($a = \"{}\")", "#if(true)".repeat(100_000));
    assert!(compile_err(&deep_string).contains("nested too deeply"));
    // 30 levels are fine
    let ok = format!("{}x{}", "#if(true)".repeat(30), "#end".repeat(30));
    assert_eq!(r(&ok), "x");
}

#[test]
fn string_methods() {
    let s = |e: &str| r(&format!("#set($s = 'Hello, World')$s.{e}"));
    assert_eq!(s("length()"), "12");
    assert_eq!(s("substring(7)"), "World");
    assert_eq!(s("substring(0, 5)"), "Hello");
    assert_eq!(s("indexOf('o')"), "4");
    assert_eq!(s("indexOf('o', 5)"), "8");
    assert_eq!(s("indexOf('z')"), "-1");
    assert_eq!(s("lastIndexOf('o')"), "8");
    assert_eq!(s("lastIndexOf('o', 7)"), "4");
    assert_eq!(s("replace('l', 'L')"), "HeLLo, WorLd");
    assert_eq!(s("replaceAll('[aeiou]', '*')"), "H*ll*, W*rld");
    assert_eq!(s("replaceAll('(\\w+), (\\w+)', '$2 $1')"), "World Hello");
    assert_eq!(s("replaceFirst('l', 'L')"), "HeLlo, World");
    assert_eq!(s("split(', ')"), "[Hello, World]");
    assert_eq!(s("split(', ').size()"), "2");
    assert_eq!(s("split('o', 2)[1]"), ", World");
    assert_eq!(s("toLowerCase()"), "hello, world");
    assert_eq!(s("toUpperCase()"), "HELLO, WORLD");
    assert_eq!(s("contains('World')"), "true");
    assert_eq!(s("startsWith('Hell')"), "true");
    assert_eq!(s("startsWith('World', 7)"), "true");
    assert_eq!(s("endsWith('x')"), "false");
    assert_eq!(s("matches('H.*d')"), "true");
    assert_eq!(s("matches('ello')"), "false");
    assert_eq!(s("equals('Hello, World')"), "true");
    assert_eq!(s("equalsIgnoreCase('hello, world')"), "true");
    assert_eq!(s("isEmpty()"), "false");
    assert_eq!(s("charAt(1)"), "e");
    assert_eq!(s("concat('!')"), "Hello, World!");
    assert_eq!(s("toString()"), "Hello, World");
    assert_eq!(s("compareTo('Hello')"), "7");
    assert_eq!(s("empty"), "false");
    assert_eq!(s("class"), "");
    assert_eq!(
        s("length"),
        "",
        "a property that is not a getter renders nothing"
    );
    assert_eq!(r("#set($s = '  padded \t')[$s.trim()]"), "[padded]");
    assert_eq!(
        r("#set($s = 'héllo😀')$s.length() $s.substring(1, 2) $s.indexOf('l')"),
        "7 é 2"
    );
    assert_eq!(r("#set($s = 'a,b,,c,,')$s.split(',')"), "[a, b, , c]");
    assert_eq!(
        r("#set($s = 'it\\s')$s"),
        "it\\s",
        "single-quoted strings have no escapes"
    );
    assert!(compile_err("#set($s = 'it\\''s')").starts_with("1:16:"));
    // dynamic patterns work too
    assert_eq!(
        r("#set($p = '[0-9]+')#set($s = 'a1b22')$s.replaceAll($p, '#')"),
        "a#b#"
    );
    // The AWS docs' trick to undo escapeJavaScript's \' in JSON
    assert_eq!(
        r(r#"#set($s = "it's")$util.escapeJavaScript($s).replaceAll("\\'", "'")"#),
        "it's"
    );
}

#[test]
fn string_method_exceptions_are_render_errors() {
    let req = Req::new();
    for t in [
        "#set($s = 'abc')$s.substring(5)",
        "#set($s = 'abc')$s.substring(2, 1)",
        "#set($s = 'abc')$s.charAt(3)",
        "#set($s = 'abc')$s.contains($undefined)",
        "#set($s = 'abc')$s.replaceAll('(', 'x')",
        "#set($s = 'abc')$s.replaceAll('b', '$1')",
        "#set($s = 'abc')#set($p = '(?=a)')$s.matches($p)",
    ] {
        assert!(
            matches!(render_err(&req, t), RenderError::Runtime { .. }),
            "{t}"
        );
    }
    // a bad literal pattern is only an error when the call runs
    assert_eq!(r("#if(false)$s.replaceAll('(', 'x')#end ok"), " ok");
}

#[test]
fn list_methods() {
    let l = |e: &str| r(&format!("#set($l = ['a', 'b', 'c'])$l.{e}"));
    assert_eq!(l("size()"), "3");
    assert_eq!(l("get(0)"), "a");
    assert_eq!(l("isEmpty()"), "false");
    assert_eq!(l("contains('b')"), "true");
    assert_eq!(l("contains('z')"), "false");
    assert_eq!(l("indexOf('c')"), "2");
    assert_eq!(l("add('d')"), "true");
    assert_eq!(l("remove(0)"), "a");
    assert_eq!(l("remove('b')"), "true");
    assert_eq!(l("subList(1, 3)"), "[b, c]");
    assert_eq!(l("empty"), "false");
    assert_eq!(l("toString()"), "[a, b, c]");
    assert_eq!(
        r("#set($l = [1])$l.add(0, 9)$l $l.set(1, 5)$l $l.clear()$l"),
        "[9, 1] 1[9, 5] []"
    );
    assert_eq!(
        r("#set($l = [1])#set($d = $l.addAll([2, 3]))$l"),
        "[1, 2, 3]"
    );
    assert!(matches!(
        render_err(&Req::new(), "#set($l = [1])$l.get(1)"),
        RenderError::Runtime { .. }
    ));
    assert!(matches!(
        render_err(&Req::new(), "#set($l = [1])$l[-1]"),
        RenderError::Runtime { .. }
    ));
}

#[test]
fn map_methods() {
    let m = |e: &str| r(&format!("#set($m = {{'a': 1, 'b': 'x'}})$m.{e}"));
    assert_eq!(m("size()"), "2");
    assert_eq!(m("get('a')"), "1");
    assert_eq!(m("get('zz')"), "");
    assert_eq!(m("containsKey('b')"), "true");
    assert_eq!(m("containsValue('x')"), "true");
    assert_eq!(m("keySet()"), "[a, b]");
    assert_eq!(m("values()"), "[1, x]");
    assert_eq!(m("isEmpty()"), "false");
    assert_eq!(m("remove('a')"), "1");
    assert_eq!(m("put('a', 2)"), "1", "put returns the previous value");
    assert_eq!(m("put('c', 2)"), "");
    assert_eq!(m("toString()"), "{a=1, b=x}");
    assert_eq!(m("empty"), "", "on a map a property is a key");
    assert_eq!(m("getOrDefault('q', 'dflt')"), "dflt");
    assert_eq!(
        r("#set($m = {'a': 1})#foreach($e in $m.entrySet())$e.key=$e.value#end"),
        "a=1"
    );
    assert_eq!(
        r("#set($m = {})$m.put('k', 'v')$m|#set($d = $m.putAll({'z': 1}))$m.size()"),
        "{k=v}|2"
    );
}

#[test]
fn number_and_boolean_methods() {
    assert_eq!(
        r("#set($n = 42)$n.toString() $n.intValue() $n.doubleValue() $n.equals(42)"),
        "42 42 42.0 true"
    );
    assert_eq!(
        r("#set($f = 3.9)$f.intValue() $f.longValue() $f.toString()"),
        "3 3 3.9"
    );
    assert_eq!(
        r("#set($b = true)$b.toString() $b.booleanValue()"),
        "true true"
    );
    assert_eq!(r("#set($n = 1)$n.compareTo(2)"), "-1");
}

#[test]
fn unknown_directives_and_methods_are_harmless() {
    assert_eq!(
        r("#notadirective($x) $x.nope() #{foo}"),
        "#notadirective()  #{foo}"
    );
}
