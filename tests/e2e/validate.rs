//! `stagecraft validate --config DIR`: exit 0 on a valid directory; exit 1 with one
//! `error: RELPATH:LINE: message` line per problem otherwise (stdout or stderr).

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{patience, ConfigDir};

const GATEWAY: &str = r#"listen: ["127.0.0.1:18080"]
admin: "127.0.0.1:19901"
backends:
  orders:
    versions:
      v1: { targets: ["127.0.0.1:9001"] }
      v2: { targets: ["127.0.0.1:9002", "127.0.0.1:9003"] }
    aliases:
      live: { v1: 95, v2: 5 }
      next: { v2: 100 }
"#;

const ROUTES: &str = r#"routes:
  - route: "GET /orders/{id}"
    integration:
      type: http_proxy
      uri: "backend://orders:${stageVariables.alias}/orders/{id}"
  - route: "ANY /legacy/{proxy+}"
    integration:
      type: http_proxy
      uri: "http://127.0.0.1:9009/api/{proxy}"
"#;

const STAGE: &str = "api: shop
deployment: shop-1
variables:
  alias: live
  env: production
";

fn deployment() -> String {
    format!("api: shop\ndescription: \"first\"\n{ROUTES}")
}

/// A valid directory: gateway.yaml, apis/shop.yaml, deployments/shop-1.yaml, stages/prod.yaml.
fn valid_dir() -> ConfigDir {
    let dir = ConfigDir::new();
    dir.write("gateway.yaml", GATEWAY);
    dir.write("apis/shop.yaml", ROUTES);
    dir.write("deployments/shop-1.yaml", &deployment());
    dir.write("stages/prod.yaml", STAGE);
    dir
}

/// `text` with `from` replaced by `to`; panics if `from` is absent (a broken test, not a
/// broken gateway).
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "test bug: {from:?} not in {text:?}");
    text.replacen(from, to, 1)
}

/// Runs `stagecraft validate`; returns the exit code and stdout + stderr.
fn validate(dir: &ConfigDir) -> (i32, String) {
    let out_path = dir.path().with_extension("validate.out");
    let err_path = dir.path().with_extension("validate.err");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagecraft"))
        .arg("validate")
        .arg("--config")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn stagecraft validate");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > patience(Duration::from_secs(30)) {
            let _ = child.kill();
            panic!("stagecraft validate did not finish within 30 s (patience included)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = format!(
        "{}\n{}",
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    (status.code().unwrap_or(-1), output)
}

/// The line number of an `error: REL:LINE: message` line whose message contains `keyword`
/// (case-insensitive).
fn find_error(output: &str, rel: &str, keyword: &str) -> Option<u32> {
    output.lines().find_map(|line| {
        let rest = line
            .trim()
            .strip_prefix("error: ")?
            .strip_prefix(rel)?
            .strip_prefix(':')?;
        let (num, message) = rest.split_once(':')?;
        let num: u32 = num.parse().ok()?;
        message.to_lowercase().contains(keyword).then_some(num)
    })
}

/// Asserts exit 1 and an error for `rel` containing `keyword`; returns its line.
fn assert_error(dir: &ConfigDir, rel: &str, keyword: &str) -> u32 {
    let (code, output) = validate(dir);
    assert_eq!(code, 1, "exit code; output:\n{output}");
    find_error(&output, rel, keyword).unwrap_or_else(|| {
        panic!("no line `error: {rel}:LINE: ...{keyword}...` in the output:\n{output}")
    })
}

#[test]
fn valid_directory_exits_zero() {
    let (code, output) = validate(&valid_dir());
    assert_eq!(code, 0, "output:\n{output}");
    assert!(
        !output.contains("error:"),
        "errors for a valid directory:\n{output}"
    );
}

#[test]
fn same_base_path_on_different_hosts_is_valid() {
    let dir = valid_dir();
    dir.write("stages/a.yaml", "api: shop\ndeployment: shop-1\nbase_path: /x\nhost: a.example.test\nvariables: {alias: live}\n");
    dir.write("stages/b.yaml", "api: shop\ndeployment: shop-1\nbase_path: /x\nhost: b.example.test\nvariables: {alias: live}\n");
    let (code, output) = validate(&dir);
    assert_eq!(code, 0, "output:\n{output}");
}

#[test]
fn stage_of_an_unknown_api() {
    let dir = valid_dir();
    dir.write("stages/prod.yaml", &edit(STAGE, "api: shop", "api: nope"));
    assert_error(&dir, "stages/prod.yaml", "unknown api");
}

#[test]
fn stage_on_a_missing_deployment() {
    let dir = valid_dir();
    dir.write(
        "stages/prod.yaml",
        &edit(STAGE, "deployment: shop-1", "deployment: shop-9"),
    );
    assert_error(&dir, "stages/prod.yaml", "does not exist");
}

#[test]
fn alias_with_an_unknown_version() {
    let dir = valid_dir();
    dir.write("gateway.yaml", &edit(GATEWAY, "v2: 5", "v9: 5"));
    assert_error(&dir, "gateway.yaml", "unknown version");
}

#[test]
fn alias_with_a_negative_weight() {
    let dir = valid_dir();
    dir.write("gateway.yaml", &edit(GATEWAY, "v2: 5", "v2: -5"));
    assert_error(&dir, "gateway.yaml", "negative");
}

#[test]
fn alias_weights_that_sum_to_zero() {
    let dir = valid_dir();
    dir.write(
        "gateway.yaml",
        &edit(GATEWAY, "{ v1: 95, v2: 5 }", "{ v1: 0, v2: 0 }"),
    );
    assert_error(&dir, "gateway.yaml", "sum to zero");
}

#[test]
fn bad_stage_file_name() {
    let dir = valid_dir();
    dir.write(
        "stages/bad name!.yaml",
        &format!("{STAGE}base_path: /bad\n"),
    );
    // The file name is the problem: there is no line to point at.
    let (code, output) = validate(&dir);
    assert_eq!(code, 1, "output:\n{output}");
    assert!(
        output
            .lines()
            .any(|l| l.starts_with("error: stages/bad name!.yaml: ")
                && l.to_lowercase().contains("stage name")),
        "no `error: stages/bad name!.yaml: ...stage name...` line:\n{output}"
    );
}

#[test]
fn bad_variable_name() {
    let dir = valid_dir();
    dir.write(
        "stages/prod.yaml",
        &edit(STAGE, "  env: production", "  bad-name: production"),
    );
    assert_error(&dir, "stages/prod.yaml", "variable name");
}

#[test]
fn bad_variable_values() {
    let long = format!("  env: {}", "a".repeat(513));
    for bad in [
        "  env: \"prod env\"",
        "  env: 'say\"hi'",
        "  env: \"x{y}\"",
        long.as_str(),
    ] {
        let dir = valid_dir();
        dir.write("stages/prod.yaml", &edit(STAGE, "  env: production", bad));
        assert_error(&dir, "stages/prod.yaml", "variable value");
    }
    // 512 characters is still fine.
    let dir = valid_dir();
    let ok = format!("  env: {}", "a".repeat(512));
    dir.write("stages/prod.yaml", &edit(STAGE, "  env: production", &ok));
    let (code, output) = validate(&dir);
    assert_eq!(code, 0, "a 512-character value is valid; output:\n{output}");
}

#[test]
fn duplicate_route() {
    let dir = valid_dir();
    let dup = format!(
        "{}  - route: \"GET /orders/{{id}}\"\n    integration:\n      type: http_proxy\n      uri: \"http://127.0.0.1:9009/x\"\n",
        deployment()
    );
    dir.write("deployments/shop-1.yaml", &dup);
    assert_error(&dir, "deployments/shop-1.yaml", "duplicate route");
}

#[test]
fn invalid_route_syntax() {
    for bad in ["GET orders", "FETCH /x", "GET /a/{p+}/b"] {
        let dir = valid_dir();
        dir.write(
            "deployments/shop-1.yaml",
            &edit(&deployment(), "\"GET /orders/{id}\"", &format!("\"{bad}\"")),
        );
        assert_error(&dir, "deployments/shop-1.yaml", "invalid route");
    }
}

#[test]
fn two_stages_with_the_same_base_path() {
    let dir = valid_dir();
    dir.write("stages/other.yaml", &format!("{STAGE}base_path: /prod\n"));
    let (code, output) = validate(&dir);
    assert_eq!(code, 1, "output:\n{output}");
    let found = find_error(&output, "stages/other.yaml", "same host and base path")
        .or_else(|| find_error(&output, "stages/prod.yaml", "same host and base path"));
    assert!(
        found.is_some(),
        "no `same host and base path` error for either stage:\n{output}"
    );
}

#[test]
fn two_stages_with_the_same_host_and_base_path() {
    let dir = valid_dir();
    let stage = "api: shop\ndeployment: shop-1\nbase_path: /x\nhost: a.example.test\nvariables: {alias: live}\n";
    dir.write("stages/a.yaml", stage);
    dir.write("stages/b.yaml", stage);
    let (code, output) = validate(&dir);
    assert_eq!(code, 1, "output:\n{output}");
    let found = find_error(&output, "stages/a.yaml", "same host and base path")
        .or_else(|| find_error(&output, "stages/b.yaml", "same host and base path"));
    assert!(
        found.is_some(),
        "no `same host and base path` error for either stage:\n{output}"
    );
}

#[test]
fn unparsable_integration_uri() {
    for bad in ["htp:/x", "http://host:notaport/"] {
        let dir = valid_dir();
        dir.write(
            "deployments/shop-1.yaml",
            &edit(&deployment(), "http://127.0.0.1:9009/api/{proxy}", bad),
        );
        assert_error(&dir, "deployments/shop-1.yaml", "invalid uri");
    }
}

#[test]
fn unknown_backend_in_uri() {
    let dir = valid_dir();
    dir.write(
        "deployments/shop-1.yaml",
        &edit(
            &deployment(),
            "http://127.0.0.1:9009/api/{proxy}",
            "backend://nope:live/{proxy}",
        ),
    );
    assert_error(&dir, "deployments/shop-1.yaml", "unknown backend");
}

#[test]
fn unknown_field_in_a_stage() {
    let dir = valid_dir();
    dir.write("stages/prod.yaml", &format!("{STAGE}bogus: 1\n"));
    assert_error(&dir, "stages/prod.yaml", "unknown field");
}

#[test]
fn unknown_field_nested_in_gateway_yaml() {
    let dir = valid_dir();
    dir.write(
        "gateway.yaml",
        &edit(GATEWAY, "v1: { targets:", "v1: { tragets:"),
    );
    assert_error(&dir, "gateway.yaml", "unknown field");
}

#[test]
fn unknown_field_in_an_integration() {
    let dir = valid_dir();
    dir.write(
        "deployments/shop-1.yaml",
        &edit(
            &deployment(),
            "      type: http_proxy\n",
            "      type: http_proxy\n      urii: x\n",
        ),
    );
    assert_error(&dir, "deployments/shop-1.yaml", "unknown field");
}

#[test]
fn yaml_syntax_error_names_its_line() {
    let dir = valid_dir();
    // Line 3: a plain scalar containing ": " is "mapping values are not allowed here".
    dir.write(
        "stages/prod.yaml",
        "api: shop\ndeployment: shop-1\nbase_path: /prod: x\nvariables: {alias: live}\n",
    );
    let (code, output) = validate(&dir);
    assert_eq!(code, 1, "output:\n{output}");
    let line = output
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("error: stages/prod.yaml:")?;
            rest.split_once(':')?.0.parse::<u32>().ok()
        })
        .unwrap_or_else(|| panic!("no `error: stages/prod.yaml:LINE:` line:\n{output}"));
    assert_eq!(line, 3, "line of the syntax error; output:\n{output}");
}

#[test]
fn yaml_syntax_error_in_a_deployment_names_its_line() {
    let dir = valid_dir();
    // Line 4 has a tab in its indentation, which YAML forbids.
    let text = edit(
        &deployment(),
        "  - route: \"GET /orders/{id}\"",
        "\t- route: \"GET /orders/{id}\"",
    );
    dir.write("deployments/shop-1.yaml", &text);
    let (code, output) = validate(&dir);
    assert_eq!(code, 1, "output:\n{output}");
    let line = output
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("error: deployments/shop-1.yaml:")?;
            rest.split_once(':')?.0.parse::<u32>().ok()
        })
        .unwrap_or_else(|| panic!("no `error: deployments/shop-1.yaml:LINE:` line:\n{output}"));
    assert_eq!(line, 4, "line of the syntax error; output:\n{output}");
}

#[test]
fn every_problem_is_reported() {
    let dir = valid_dir();
    dir.write("gateway.yaml", &edit(GATEWAY, "v2: 5", "v2: -5"));
    dir.write(
        "deployments/shop-1.yaml",
        &edit(
            &deployment(),
            "http://127.0.0.1:9009/api/{proxy}",
            "backend://nope:live/{proxy}",
        ),
    );
    let (code, output) = validate(&dir);
    assert_eq!(code, 1, "output:\n{output}");
    assert!(
        find_error(&output, "gateway.yaml", "negative").is_some(),
        "negative weight not reported:\n{output}"
    );
    assert!(
        find_error(&output, "deployments/shop-1.yaml", "unknown backend").is_some(),
        "unknown backend not reported:\n{output}"
    );
}

#[test]
fn undefined_stage_variable_is_only_a_warning() {
    let dir = valid_dir();
    dir.write(
        "deployments/shop-1.yaml",
        &edit(
            &deployment(),
            "http://127.0.0.1:9009/api/{proxy}",
            "http://${stageVariables.legacyHost}/api/{proxy}",
        ),
    );
    let (code, output) = validate(&dir);
    assert_eq!(
        code, 0,
        "an undefined stage variable is not an error; output:\n{output}"
    );
    let warning = output.lines().find(|l| l.trim().starts_with("warning:"));
    let warning = warning.unwrap_or_else(|| panic!("no `warning:` line:\n{output}"));
    assert!(
        warning.contains("legacyHost"),
        "the warning does not name the variable: {warning}"
    );
}
