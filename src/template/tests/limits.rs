//! Every limit: errors, never panics or hangs.

use super::{render_err, Req};
use crate::template::{ForeachOverflow, LimitKind, Limits, RenderError, Template};

fn lim(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

#[test]
fn foreach_stops_at_1000_iterations_by_default() {
    let out = Req::new().render("#foreach($i in [1..5000])x#end");
    assert_eq!(out.len(), 1000);
    let out = Req::new().render("#foreach($i in [1..5000])#end$velocityCount");
    assert_eq!(out, "");
    let out = Req::new().render("#set($l = [1..1500])#foreach($i in $l)#set($last = $i)#end$last");
    assert_eq!(out, "1000");
    // exactly 1,000 is fine in error mode
    let req = Req::new().limits(lim(|l| l.foreach_overflow = ForeachOverflow::Error));
    assert_eq!(req.render("#foreach($i in [1..1000])x#end").len(), 1000);
}

#[test]
fn foreach_overflow_can_be_an_error() {
    let req = Req::new().limits(lim(|l| l.foreach_overflow = ForeachOverflow::Error));
    assert_eq!(
        render_err(&req, "#foreach($i in [1..1001])#end"),
        RenderError::Limit {
            kind: LimitKind::ForeachIterations
        }
    );
    let req = Req::new().limits(lim(|l| l.max_foreach_iterations = 3));
    assert_eq!(req.render("#foreach($i in [1..10])$i#end"), "123");
}

#[test]
fn huge_ranges_in_foreach_are_not_materialised() {
    let out = Req::new().render("#foreach($i in [0..2000000000])#end done");
    assert_eq!(out, " done");
}

#[test]
fn huge_range_values_hit_the_step_budget() {
    assert_eq!(
        render_err(&Req::new(), "#set($r = [0..2000000000])"),
        RenderError::Limit {
            kind: LimitKind::Steps
        }
    );
}

#[test]
fn nested_loops_hit_the_step_budget() {
    let t =
        "#foreach($a in [1..1000])#foreach($b in [1..1000])#foreach($c in [1..1000])#end#end#end";
    assert_eq!(
        render_err(&Req::new(), t),
        RenderError::Limit {
            kind: LimitKind::Steps
        }
    );
    let req = Req::new().limits(lim(|l| l.max_steps = 100));
    assert_eq!(
        render_err(&req, "#foreach($a in [1..200])$a#end"),
        RenderError::Limit {
            kind: LimitKind::Steps
        }
    );
}

#[test]
fn output_size_limit() {
    let req = Req::new().limits(lim(|l| l.max_output_bytes = 10));
    assert_eq!(req.render("0123456789"), "0123456789");
    assert_eq!(
        render_err(&req, "0123456789x"),
        RenderError::Limit {
            kind: LimitKind::OutputSize
        }
    );
    assert_eq!(
        render_err(&req, "#set($s = '0123456789abc')$s"),
        RenderError::Limit {
            kind: LimitKind::OutputSize
        }
    );
    assert_eq!(
        render_err(
            &Req::new(),
            "#foreach($i in [1..1000])#foreach($j in [1..1000])xxxxxxxxxx#end#end"
        ),
        RenderError::Limit {
            kind: LimitKind::OutputSize
        }
    );
}

#[test]
fn string_growth_is_bounded() {
    let t =
        "#set($s = 'xxxxxxxxxxxxxxxx')#foreach($i in [1..40])#set($s = \"$s$s\")#end$s.length()";
    let e = render_err(
        &Req::new().limits(lim(|l| l.max_output_bytes = 64 << 20)),
        t,
    );
    assert!(
        matches!(
            e,
            RenderError::Limit {
                kind: LimitKind::StringSize | LimitKind::Steps | LimitKind::OutputSize
            }
        ),
        "{e:?}"
    );
    let t = "#set($s = 'xxxxxxxxxxxxxxxx')#foreach($i in [1..40])#set($s = $s + $s)#end";
    let e = render_err(&Req::new(), t);
    assert!(
        matches!(
            e,
            RenderError::Limit {
                kind: LimitKind::StringSize | LimitKind::Steps
            }
        ),
        "{e:?}"
    );
    let t =
        "#set($s = 'xxxxxxxxxxxxxxxx')#foreach($i in [1..40])#set($s = $s.replace('x', 'xx'))#end";
    let e = render_err(&Req::new(), t);
    assert!(
        matches!(
            e,
            RenderError::Limit {
                kind: LimitKind::StringSize | LimitKind::Steps
            }
        ),
        "{e:?}"
    );
}

#[test]
fn list_growth_is_bounded() {
    let t = "#set($l = [1])#foreach($i in [1..60])#set($d = $l.addAll($l))#end$l.size()";
    assert_eq!(
        render_err(&Req::new(), t),
        RenderError::Limit {
            kind: LimitKind::Steps
        }
    );
}

#[test]
fn parse_depth_limit_is_configurable() {
    let t = format!("{}x{}", "#if(true)".repeat(10), "#end".repeat(10));
    assert!(Template::compile(&t).is_ok());
    let shallow = lim(|l| l.max_parse_depth = 5);
    let e = Template::compile_with_limits(&t, &shallow)
        .err()
        .map(|e| e.message);
    assert_eq!(e.as_deref(), Some("template nested too deeply"));
}

#[test]
fn render_depth_limit() {
    let req = Req::new()
        .body("[[[[[[[[[[1]]]]]]]]]]")
        .limits(lim(|l| l.max_render_depth = 5));
    assert_eq!(
        render_err(&req, "$input.path('$')"),
        RenderError::Limit {
            kind: LimitKind::Depth
        }
    );
    let req = Req::new().limits(lim(|l| l.max_render_depth = 3));
    assert_eq!(
        render_err(
            &req,
            "#if(true)#if(true)#if(true)#if(true)x#end#end#end#end"
        ),
        RenderError::Limit {
            kind: LimitKind::Depth
        }
    );
}

#[test]
fn dynamic_regex_size_limit() {
    let req = Req::new().limits(lim(|l| l.max_regex_bytes = 1000));
    let e = render_err(
        &req,
        "#set($p = 'a{1000}{1000}')#set($s = 'a')$s.matches($p)",
    );
    assert!(matches!(e, RenderError::Runtime { .. }), "{e:?}");
}

#[test]
fn errors_display_usefully() {
    assert_eq!(
        RenderError::Limit {
            kind: LimitKind::Steps
        }
        .to_string(),
        "evaluation step budget exceeded"
    );
    let e = render_err(&Req::new(), "line1\n  $util.parseJson('{')");
    assert!(e.to_string().starts_with("2:"), "{e}");
}

#[test]
fn template_made_cycles_do_not_hang() {
    // a body list made to contain itself twice: deep scan, printing, JSON and read-back all stop
    let req = Req::new().body("{\"l\": []}");
    let mk = "#set($l = $input.path('$.l'))#set($d = $l.add($l))#set($d = $l.add($l))";
    for tail in [
        "$input.path('$..x')",
        "$input.json('$')",
        "$l.toString()",
        "#set($k = [])#set($d = $k.add($k))#set($d = $k.add($k))#if($l == $k)x#end",
    ] {
        let e = render_err(&req, &format!("{mk}{tail}"));
        assert!(matches!(e, RenderError::Limit { .. }), "{tail}: {e:?}");
    }
    let out = req
        .try_render(&format!("{mk}#set($context.responseOverride.custom = $l)"))
        .expect("renders");
    assert_eq!(
        out.response_override.other,
        vec![("custom".to_string(), serde_json::Value::Null)]
    );
}
