//! `stagecraft validate --config DIR` as a command: exit 0 on a valid directory; exit 1 with one
//! `error: RELPATH:LINE: message` line per problem otherwise, then a count, all on stdout. Which
//! problem each kind of invalid configuration is reported as is checked through the library, in
//! `validate_messages.rs`; these tests show that the command prints exactly what it finds.

use crate::common::{run_cli, ConfigDir};

use super::validate_messages::{check, deployment, edit, lines, valid_dir, GATEWAY};

/// Runs `stagecraft validate`; returns the exit code and stdout, and checks that nothing went to
/// stderr.
fn validate(dir: &ConfigDir) -> (i32, String) {
    let (code, out, err) = run_cli(dir.path(), &["validate"]);
    assert_eq!(err, "", "stderr of stagecraft validate; stdout:\n{out}");
    (code, out)
}

/// What the command must print: every problem the library finds, then `last`.
fn expected(dir: &ConfigDir, last: &str) -> String {
    let mut want = lines(&check(dir.path()));
    want.push(format!("{}: {last}", dir.path().display()));
    want.join("\n") + "\n"
}

#[test]
fn a_valid_directory_exits_zero_and_says_so() {
    let dir = valid_dir();
    let (code, output) = validate(&dir);
    assert_eq!(code, 0, "output:\n{output}");
    assert_eq!(output, format!("{}: valid\n", dir.path().display()));
}

#[test]
fn warnings_are_printed_and_the_directory_is_still_valid() {
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
    assert!(
        output.starts_with("warning: ") && output.contains("legacyHost"),
        "no warning naming the variable:\n{output}"
    );
    assert_eq!(output, expected(&dir, "valid"));
}

#[test]
fn every_problem_is_reported_then_counted() {
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
    assert_eq!(output, expected(&dir, "2 errors"));
}
