//! The cases of `tests/data/vtl/cases.json` (recorded against AWS; see the notes there),
//! including the request -> response pipelines the case runner skips.

use super::{r, rb, Req};
use crate::template::{render_case, ContextData, Rendered};

fn json_eq(got: &str, want: serde_json::Value) {
    let parsed: serde_json::Value = match serde_json::from_str(got) {
        Ok(v) => v,
        Err(e) => panic!("output is not JSON ({e}): {got:?}"),
    };
    assert_eq!(parsed, want, "output: {got}");
}

#[test]
fn input_body_formatting() {
    let t = "EncodedBody=$util.urlEncode($input.body)&EncodedBodyAccess=$util.urlEncode($input.body.testAccess)";
    assert_eq!(r(t), "EncodedBody=%7B%7D&EncodedBodyAccess=");
    assert_eq!(
        rb("some raw data", t),
        "EncodedBody=some+raw+data&EncodedBodyAccess="
    );
    assert_eq!(
        rb(
            "{\"some\": \"value\"}",
            "Action=SendMessage&MessageBody=$input.body"
        ),
        "Action=SendMessage&MessageBody={\"some\": \"value\"}"
    );
    assert_eq!(r("#set($result = $input.body)$result"), "{}");
    assert_eq!(
        r("Action=SendMessage&MessageBody=$input.body"),
        "Action=SendMessage&MessageBody={}"
    );
}

#[test]
fn input_path_template_formatting() {
    let t = "#set($result = $input.path(\"$.json\"))$result";
    assert_eq!(rb(r#"{"json": [{"foo": "bar"}]}"#, t), r#"[{"foo":"bar"}]"#);
    assert_eq!(
        rb(
            r#"{"json": {"bigger": "dict", "to": "test", "with": "separators"}}"#,
            t
        ),
        "{bigger=dict, to=test, with=separators}"
    );
    assert_eq!(
        rb(
            r#"{"json": {"nested": [{"foo": "bar"}]}}"#,
            &format!("{t}.nested")
        ),
        r#"[{"foo":"bar"}]"#
    );
    assert_eq!(
        rb(r#"{"json": [[{"foo": "bar"}]]}"#, &format!("{t}[0]")),
        r#"[{"foo":"bar"}]"#
    );
    assert_eq!(
        rb(
            r#"{"json": {"list": [{"foo": "bar"}]}}"#,
            &format!("{t}.toString()")
        ),
        r#"{list=[{"foo":"bar"}]}"#
    );
    assert_eq!(
        rb(
            r#"{"json": {"listValue": []}}"#,
            r##"#set($result = $input.path("$.json.listValue")){"body": $result, "nested": $result.nested, "isNull": #if( $result == $null )"true"#else"false"#end, "isEmptyString": #if( $result == "" )"true"#else"false"#end}"##
        ),
        r#"{"body": [], "nested": , "isNull": "false", "isEmptyString": "false"}"#
    );
}

#[test]
fn mock_params_and_stage_variables() {
    let req = Req::new()
        .path("id", "42")
        .header("Content-Type", "application/json");
    json_eq(
        &req.render(r#"{"statusCode": 200, "id": $input.params().path.id}"#),
        serde_json::json!({"statusCode": 200, "id": 42}),
    );
    let req = Req::new()
        .stage_var("lambdaFunction", "<fn-name>")
        .stage_var("version", "1.0");
    json_eq(
        &req.render(r#"{ "version": "$stageVariables.version" }"#),
        serde_json::json!({"version": "1.0"}),
    );
    let mut req = Req::new()
        .stage_var("testVar", "default")
        .stage_var("defaultVar", "default");
    req.context.is_canary_request = Some(false);
    json_eq(
        &req.render(r#"{"statusCode": 200, "message": "default deployment", "variable": "$stageVariables.testVar", "nonExistingDefault": "$stageVariables.noStageVar", "nonOverridden": "$stageVariables.defaultVar", "isCanary": "$context.isCanaryRequest"}"#),
        serde_json::json!({"isCanary": "false", "message": "default deployment", "nonExistingDefault": "", "nonOverridden": "default", "statusCode": 200, "variable": "default"}),
    );
    let req = Req::new().header("HeaderFoo", "BAR-Header");
    assert_eq!(
        req.body("{\"foo\": \"bar\"}").render("Action=SendMessage&MessageBody=$input.body&MessageAttribute.1.Name=user-agent&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=$input.params('HeaderFoo')"),
        "Action=SendMessage&MessageBody={\"foo\": \"bar\"}&MessageAttribute.1.Name=user-agent&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=BAR-Header"
    );
}

#[test]
fn response_template_with_status_override() {
    let t = "#set($inputRoot = $input.path('$'))\n$input.json(\"$\")\n#if($inputRoot.toString().contains(\"customerror\"))\n    #set($context.responseOverride.status = 400)\n#else\n    #set($context.responseOverride.status = 202)\n#end\n";
    let out = Req::new()
        .body("{\"statusCode\": 200, \"body\": \"noerror\"}")
        .try_render(t)
        .expect("renders");
    assert_eq!(out.output, "{\"statusCode\":200,\"body\":\"noerror\"}\n");
    json_eq(
        &out.output,
        serde_json::json!({"statusCode": 200, "body": "noerror"}),
    );
    assert_eq!(out.response_override.status, Some(202));
    let out = Req::new()
        .body("{\"body\": \"customerror\"}")
        .try_render(t)
        .expect("renders");
    assert_eq!(out.response_override.status, Some(400));
}

#[test]
fn kinesis_put_records() {
    let t = "{\n    \"StreamName\": \"STREAM\",\n    \"Records\": [\n        #set( $numRecords = $input.path('$.records').size() )\n        #if($numRecords > 0)\n            #set( $maxIndex = $numRecords - 1 )\n            #foreach( $idx in [0..$maxIndex] )\n                #set( $elem = $input.path(\"$.records[${idx}]\") )\n                #set( $elemJsonB64 = $util.base64Encode($elem.data) )\n                {\n                    \"Data\": \"$elemJsonB64\",\n                    \"PartitionKey\": #if( $foo.bar.stuff != '')\"$elem.partitionKey\"#else\"$elemJsonB64.length()\"#end\n                }#if($foreach.hasNext),#end\n            #end\n        #end\n    ]\n}";
    let body = r#"{"records": [{"data": "{\"foo\": \"bar1\"}"}, {"data": "{\"foo\": \"bar2\"}"}, {"data": "{\"foo\": \"bar3\"}"}]}"#;
    json_eq(
        &rb(body, t),
        serde_json::json!({"StreamName": "STREAM", "Records": [
            {"Data": "eyJmb28iOiAiYmFyMSJ9", "PartitionKey": "20"},
            {"Data": "eyJmb28iOiAiYmFyMiJ9", "PartitionKey": "20"},
            {"Data": "eyJmb28iOiAiYmFyMyJ9", "PartitionKey": "20"}]}),
    );
}

#[test]
fn non_json_payloads() {
    assert_eq!(rb("not json", "$input.json('$.message')"), "\"\"");
    assert_eq!(rb("\"#foobar123\"", "$input.json('$.message')"), "\"\"");
    assert_eq!(
        rb("\"#foobar123\"", "$input.json('$.message').testAccess"),
        ""
    );
    assert_eq!(r("$util.urlEncode($input.body)"), "%7B%7D");
}

#[test]
fn docs_example_exact_output() {
    let t = "#set($inputRoot = $input.path('$'))\n{\n  \"choices\": [\n#foreach($elem in $inputRoot.bins)\n    {\n      \"kind\": \"$elem.type\",\n      \"suggestedPrice\": \"$elem.price per $elem.unit\",\n      \"available\": $elem.quantity\n    }#if($foreach.hasNext),#end\n            \n#end\n  ]\n}";
    let body = r#"{"department": "produce", "categories": ["fruit", "vegetables"], "bins": [{"category": "fruit", "type": "apples", "price": 1.99, "unit": "pound", "quantity": 232}, {"category": "fruit", "type": "bananas", "price": 0.19, "unit": "each", "quantity": 112}, {"category": "vegetables", "type": "carrots", "price": 1.29, "unit": "bag", "quantity": 57}]}"#;
    let out = rb(body, t);
    // `#end` swallows the newline after it, so the blank line with spaces stays
    let item = |k: &str, p: &str, u: &str, q: u32, comma: &str| {
        format!("    {{\n      \"kind\": \"{k}\",\n      \"suggestedPrice\": \"{p} per {u}\",\n      \"available\": {q}\n    }}{comma}            \n")
    };
    let want = format!(
        "{{\n  \"choices\": [\n{}{}{}  ]\n}}",
        item("apples", "1.99", "pound", 232, ","),
        item("bananas", "0.19", "each", 112, ","),
        item("carrots", "1.29", "bag", 57, "")
    );
    assert_eq!(out, want);
}

#[test]
fn uri_templates() {
    let req = Req::new().stage_var("stageVar", "stageValue");
    assert_eq!(
        req.render("https://example.com/${stageVariables.stageVar}/bar"),
        "https://example.com/stageValue/bar"
    );
    // undefined stage variables leave empty parts; the gateway turns such a URI into a 500
    assert_eq!(r("https://${stageVariables.TestHost}/${stageVariables.testPath}?${stageVariables.querystring}"), "https:///?");
    assert_eq!(
        r("https://test.domain.example/root/${path}"),
        "https://test.domain.example/root/"
    );
    assert_eq!(
        r("https://test.domain.example/root/{path}"),
        "https://test.domain.example/root/{path}"
    );
}

#[test]
fn mock_request_template_that_is_not_json_renders_as_is() {
    assert_eq!(
        Req::new()
            .path("testPath", "test-path")
            .render("{statusCode: 200}"),
        "{statusCode: 200}"
    );
}

#[test]
fn escape_javascript_table() {
    // the AWS documentation wins over LocalStack for the single quote
    for (input, want) in [
        ("it's", r"it\'s"),
        ("0010", "0010"),
        ("true", "true"),
        ("\"\"", r#"\"\""#),
        ("\"\"\"", r#"\"\"\""#),
        ("{\"foo\": 123}", r#"{\"foo\": 123}"#),
        ("{\"foo\"\": 123}", r#"{\"foo\"\": 123}"#),
    ] {
        let req = Req::new().query("v", input);
        assert_eq!(
            req.render("$util.escapeJavaScript($input.params('v'))"),
            want,
            "{input}"
        );
    }
    assert_eq!(r("$util.escapeJavaScript(1)"), "1");
    assert_eq!(r("[$util.escapeJavaScript($null)]"), "[]");
}

/// Renders a request template, then a response template with the overrides the request
/// template left (the MOCK pipeline of the recorded cases).
fn pipeline(req: &Req, request: &str, response: &str) -> (Rendered, Rendered) {
    let first = req.try_render(request).expect("request template renders");
    let mut second_req = Req::new();
    second_req.context = ContextData {
        request_override: first.request_override.clone(),
        response_override: first.response_override.clone(),
        ..ContextData::default()
    };
    let second = second_req
        .try_render(response)
        .expect("response template renders");
    (first, second)
}

#[test]
fn mock_pipeline_request_overrides_reach_the_response_template() {
    let request = "#set($body = $util.base64Decode($input.params('testPath')))\n    #set($context.requestOverride.path.body = $body)\n    {\n      \"statusCode\": 200\n    }\n";
    let response = "\n#set($body = $util.parseJson($context.requestOverride.path.body))\n#set($inputBody = $body.message)\n#if($inputBody == \"path1\")\n{\n   \"response\": \"path was path one\"\n}\n#elseif($inputBody == \"path2\")\n{\n   \"response\": \"path was path two\"\n}\n#else\n{\n  \"response\": \"this is the else clause\"\n}\n#end\n";
    for (path, want) in [
        ("eyJtZXNzYWdlIjogInBhdGgxIn0=", "path was path one"),
        ("eyJtZXNzYWdlIjogInBhdGgyIn0=", "path was path two"),
        (
            "eyJtZXNzYWdlIjogIndoYXRldmVyIn0=",
            "this is the else clause",
        ),
    ] {
        let (first, second) = pipeline(&Req::new().path("testPath", path), request, response);
        json_eq(&first.output, serde_json::json!({"statusCode": 200}));
        json_eq(&second.output, serde_json::json!({"response": want}));
    }
}

#[test]
fn mock_pipeline_response_override_from_request_template() {
    let request = "\n#set($context.responseOverride.status = 444)\n#set($context.responseOverride.header.foo = \"bar\")\n#set($context.responseOverride.custom = \"is also passed around\")\n{\n  \"statusCode\": 200\n}\n";
    let response = "\n#set($statusOverride = $context.responseOverride.status)\n#set($fooHeader = $context.responseOverride.header.foo)\n#set($custom = $context.responseOverride.custom)\n{\n    \"statusOverride\": \"$statusOverride\",\n    \"fooHeader\": \"$fooHeader\",\n    \"custom\": \"$custom\"\n}\n";
    let (first, second) = pipeline(&Req::new(), request, response);
    assert_eq!(first.response_override.status, Some(444));
    assert_eq!(
        first.response_override.headers,
        vec![("foo".to_string(), "bar".to_string())]
    );
    json_eq(
        &second.output,
        serde_json::json!({"statusOverride": "444", "fooHeader": "bar", "custom": "is also passed around"}),
    );
    assert_eq!(second.response_override.status, Some(444));
}

#[test]
fn mock_pipeline_map_assignment_forms() {
    let request = "\n#set($paramName = \"foo\")\n#set($context.requestOverride.querystring[$paramName] = \"bar\")\n#set($paramPutName = \"putfoo\")\n$context.requestOverride.querystring.put($paramPutName, \"putBar\")\n#set($context[\"requestOverride\"].querystring[\"nestedfoo\"] = \"nestedFoo\")\n{\n  \"statusCode\": 200\n}\n";
    let response = "\n#set($value = $context.requestOverride.querystring[\"foo\"])\n#set($value2 = $context.requestOverride.querystring[\"putfoo\"])\n#set($value3 = $context.requestOverride.querystring[\"nestedfoo\"])\n{\n    \"value\": \"$value\",\n    \"value2\": \"$value2\",\n    \"value3\": \"$value3\"\n}\n";
    let (first, second) = pipeline(&Req::new(), request, response);
    json_eq(&first.output, serde_json::json!({"statusCode": 200}));
    json_eq(
        &second.output,
        serde_json::json!({"value": "bar", "value2": "putBar", "value3": "nestedFoo"}),
    );
}

#[test]
fn render_case_document() {
    let case = r#"{"template": "$input.params('id') $stageVariables.v $context.identity.sourceIp $context.isCanaryRequest $input.json('$.a')",
        "body": "{\"a\": [1]}", "params": {"path": {"id": "7"}, "querystring": {}, "header": {}},
        "stage_variables": {"v": "x"}, "context": {"identity": {"sourceIp": "1.2.3.4"}, "isCanaryRequest": true}}"#;
    assert_eq!(render_case(case).as_deref(), Ok("7 x 1.2.3.4 true [1]"));
    let case = r#"{"template": "[$input.body]", "body": null, "params": null, "stage_variables": null, "context": null}"#;
    assert_eq!(render_case(case).as_deref(), Ok("[{}]"));
    let bad = render_case(r#"{"template": "ok\n#if(", "body": null}"#)
        .err()
        .map(|e| e.to_string());
    assert!(
        bad.as_deref().is_some_and(|e| e.starts_with("2:")),
        "{bad:?}"
    );
    assert!(render_case("[]").is_err());
    assert!(render_case("{").is_err());
    assert!(render_case(r#"{"template": 1}"#).is_err());
}

/// The console's "Method Request passthrough" template.
const PASSTHROUGH: &str = r##"##  See http://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
##  This template will pass through all parameters including path, querystring, header, stage variables, and context through to the integration endpoint via the body/payload
#set($allParams = $input.params())
{
"body-json" : $input.json('$'),
"params" : {
#foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
"$type" : {
    #foreach($paramName in $params.keySet())
    "$paramName" : "$util.escapeJavaScript($params.get($paramName))"
        #if($foreach.hasNext),#end
    #end
}
    #if($foreach.hasNext),#end
#end
},
"stage-variables" : {
#foreach($key in $stageVariables.keySet())
"$key" : "$util.escapeJavaScript($stageVariables.get($key))"
    #if($foreach.hasNext),#end
#end
},
"context" : {
    "account-id" : "$context.identity.accountId",
    "api-id" : "$context.apiId",
    "http-method" : "$context.httpMethod",
    "stage" : "$context.stage",
    "source-ip" : "$context.identity.sourceIp",
    "user-agent" : "$context.identity.userAgent",
    "request-id" : "$context.requestId",
    "resource-path" : "$context.resourcePath"
    }
}
"##;

#[test]
fn method_request_passthrough_template() {
    let mut req = Req::new()
        .path("id", "7")
        .query("q", "a \"quoted\" value")
        .header("Accept", "*/*")
        .stage_var("env", "prod");
    req.context.http_method = "GET".into();
    req.context.identity.source_ip = "203.0.113.5".into();
    json_eq(
        &req.render(PASSTHROUGH),
        serde_json::json!({
            "body-json": {},
            "params": {"path": {"id": "7"}, "querystring": {"q": "a \"quoted\" value"}, "header": {"Accept": "*/*"}},
            "stage-variables": {"env": "prod"},
            "context": {"account-id": "", "api-id": "", "http-method": "GET", "stage": "", "source-ip": "203.0.113.5",
                        "user-agent": "", "request-id": "", "resource-path": ""}
        }),
    );
    let req = req.body(r#"{"a": [1, 2]}"#);
    let out = req.render(PASSTHROUGH);
    assert!(out.contains("\"body-json\" : {\"a\":[1,2]},"), "{out}");
    // as on AWS, an apostrophe comes out as \' which is not valid JSON (hence the docs' advice)
    let out = req.query("x", "it's").render(PASSTHROUGH);
    assert!(out.contains(r#""x" : "it\'s""#), "{out}");
    assert!(serde_json::from_str::<serde_json::Value>(&out).is_err());
}
