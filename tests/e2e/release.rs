//! The deployment lifecycle from the command line, checked by what a running gateway serves:
//! `deploy`, `history`, `rollback`, `diff`, `canary`, `promote`, `routes`, and the integrity
//! check of deployment files in `validate` and on reload.
//!
//! Backends `v1` and `v2` answer with their name in `x-backend`, so every response says which
//! deployment, alias or canary side served it. Waits poll with deadlines. The test that measures
//! the one-second contract of `deploy` is in `tests/timing/release.rs`.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::release::{count, deploy, draft, fixture, json, ok, read, Fixture};
use common::{backend_at, eventually, run_cli, served_by, spawn_cli, ConfigDir, Gateway};
use serde_json::Value;

/// Failure bound for waits that are not the thing measured.
const WAIT: Duration = Duration::from_secs(10);

/// Runs a command that must fail with exit 1; returns its stderr.
fn fails(dir: &ConfigDir, args: &[&str]) -> String {
    let (code, out, err) = run_cli(dir.path(), args);
    assert_eq!(
        code, 1,
        "stagecraft {args:?} should fail\nstdout: {out}\nstderr: {err}"
    );
    err
}

/// The stage as the running gateway's `/config` shows it.
async fn live_stage(gw: &Gateway, name: &str) -> Option<Value> {
    let r = gw.admin_get("/config").await?;
    let config = r.json();
    config["stages"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
}

/// Polls `/config` until stage `name` satisfies `check`: the new snapshot is live.
async fn until_live(gw: &Gateway, name: &str, what: &str, check: impl Fn(&Value) -> bool) {
    let check = &check;
    eventually(what, WAIT, || async move {
        live_stage(gw, name).await.is_some_and(|s| check(&s))
    })
    .await;
}

/// A directory for commands that need no running gateway (gateway.yaml points nowhere live).
fn offline_dir(routes: &[(&str, &str)]) -> ConfigDir {
    let dir = ConfigDir::new();
    dir.write(
        "gateway.yaml",
        "listen: [\"127.0.0.1:18080\"]\nbackends:\n  svc:\n    versions:\n      v1: { targets: [\"127.0.0.1:9001\"] }\n      v2: { targets: [\"127.0.0.1:9002\"] }\n    aliases:\n      live: { v1: 95, v2: 5 }\n",
    );
    dir.write("apis/shop.yaml", &draft(routes));
    dir
}

#[tokio::test]
async fn rollback_and_rollback_to_switch_what_is_served() {
    let fx = fixture("backend://svc:v1/who").await;
    let addr = fx.gw.addr();
    deploy(&fx.dir, "prod", "on v1");
    fx.dir.write(
        "apis/shop.yaml",
        &draft(&[("GET /who", "backend://svc:v2/who")]),
    );
    deploy(&fx.dir, "prod", "on v2");
    served_by(addr, "/prod/who", "v2", "shop-2").await;

    // Default: the previous deployment.
    assert_eq!(ok(&fx.dir, &["rollback", "--stage", "prod"]), "shop-1\n");
    served_by(addr, "/prod/who", "v1", "rollback").await;
    let history = |dir: &ConfigDir| -> Vec<String> {
        json(dir, &["history", "--stage", "prod", "--json"])["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["deployment"].as_str().unwrap().to_string())
            .collect()
    };
    // The rollback is recorded too.
    assert_eq!(history(&fx.dir), ["shop-1", "shop-2", "shop-1"]);

    // Rolling back twice returns to where it started (like `kubectl rollout undo`).
    assert_eq!(ok(&fx.dir, &["rollback", "--stage", "prod"]), "shop-2\n");
    served_by(addr, "/prod/who", "v2", "second rollback").await;

    // --to: any deployment of the stage's API.
    assert_eq!(
        ok(&fx.dir, &["rollback", "--stage", "prod", "--to", "shop-1"]),
        "shop-1\n"
    );
    served_by(addr, "/prod/who", "v1", "rollback --to").await;
    assert_eq!(
        history(&fx.dir),
        ["shop-1", "shop-2", "shop-1", "shop-2", "shop-1"]
    );

    // Errors name what is wrong and change nothing.
    let before = read(&fx.dir, "stages/prod.yaml");
    let err = fails(&fx.dir, &["rollback", "--stage", "prod", "--to", "shop-9"]);
    assert!(
        err.contains("\"shop-9\"") && err.contains("deployments/shop-9.yaml"),
        "{err}"
    );
    fx.dir.write(
        "deployments/other-1.yaml",
        "api: other\nroutes:\n  - route: \"GET /x\"\n    integration: { type: http_proxy, uri: \"http://127.0.0.1:9/x\" }\n",
    );
    let err = fails(&fx.dir, &["rollback", "--stage", "prod", "--to", "other-1"]);
    assert!(err.contains("belongs to api \"other\""), "{err}");
    let err = fails(&fx.dir, &["rollback", "--stage", "nope"]);
    assert!(err.contains("stages/nope.yaml"), "{err}");
    assert_eq!(read(&fx.dir, "stages/prod.yaml"), before);
    assert_eq!(backend_at(addr, "/prod/who").await.as_deref(), Some("v1"));
}

#[test]
fn diff_names_added_removed_and_changed_routes() {
    let dir = offline_dir(&[
        ("GET /a", "http://127.0.0.1:9001/a"),
        ("GET /b", "http://127.0.0.1:9001/b"),
        ("GET /c/{id}", "http://127.0.0.1:9001/c/{id}"),
    ]);
    deploy(&dir, "prod", "three routes");
    let out = ok(&dir, &["diff", "--api", "shop", "--stage", "prod"]);
    assert!(out.contains("no differences"), "{out}");

    // /a removed, /b's uri changed, /c only reformatted and commented, /d added.
    dir.write(
        "apis/shop.yaml",
        "routes:\n  - route: \"GET /b\"\n    integration:\n      type: http_proxy\n      uri: \"http://127.0.0.1:9002/b\"\n  - route: GET  /c/{id}   # same route\n    integration: { type: http_proxy, uri: \"http://127.0.0.1:9001/c/{id}\" }\n  - route: \"GET /d\"\n    integration:\n      type: http_proxy\n      uri: \"http://127.0.0.1:9001/d\"\n",
    );
    let d = json(
        &dir,
        &["diff", "--api", "shop", "--stage", "prod", "--json"],
    );
    assert_eq!(d["deployment"], "shop-1");
    assert_eq!(d["added"], serde_json::json!(["GET /d"]));
    assert_eq!(d["removed"], serde_json::json!(["GET /a"]));
    assert_eq!(
        d["changed"],
        serde_json::json!([{"route": "GET /b", "fields": [
            {"field": "uri", "from": "http://127.0.0.1:9001/b", "to": "http://127.0.0.1:9002/b"}
        ]}])
    );
    let out = ok(&dir, &["diff", "--api", "shop", "--stage", "prod"]);
    for line in [
        "+ GET /d",
        "- GET /a",
        "~ GET /b  (uri: \"http://127.0.0.1:9001/b\" -> \"http://127.0.0.1:9002/b\")",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?} in:\n{out}"
        );
    }
    assert!(!out.contains("/c/"), "{out}");
}

/// The method request travels with a deployment, so `diff` shows it: a route's validator and
/// models, and the API's models, CORS and gateway responses.
#[test]
fn diff_and_routes_show_the_method_request() {
    let dir = offline_dir(&[("GET /a", "http://127.0.0.1:9001/a")]);
    deploy(&dir, "prod", "one route");
    dir.write(
        "apis/shop.yaml",
        "models:\n  A: { schema: { type: object } }\nrequest_validators:\n  all: { body: true, parameters: true }\ncors:\n  allow_origins: [\"*\"]\nauthorizers:\n  tokens: { type: token, uri: \"http://127.0.0.1:9009\" }\nroutes:\n  - route: \"GET /a\"\n    authorizer: tokens\n    request_validator: all\n    request_models: { application/json: A }\n    integration: { type: http_proxy, uri: \"http://127.0.0.1:9001/a\" }\n",
    );
    let d = json(
        &dir,
        &["diff", "--api", "shop", "--stage", "prod", "--json"],
    );
    assert_eq!(
        d["changed"],
        serde_json::json!([{"route": "GET /a", "fields": [
            {"field": "authorizer", "from": null, "to": "tokens"},
            {"field": "request_models", "from": null, "to": {"application/json": "A"}},
            {"field": "request_validator", "from": null, "to": "all"}
        ]}])
    );
    let settings: Vec<&str> = d["settings"]
        .as_array()
        .expect("settings is a list")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(
        settings,
        ["models", "request_validators", "cors", "authorizers"]
    );
    let out = ok(&dir, &["diff", "--api", "shop", "--stage", "prod"]);
    assert!(
        out.lines().any(|l| l
            == "~ api settings  (models: (none) -> {...}; request_validators: (none) -> {...}; cors: (none) -> {...}; authorizers: (none) -> {...})"),
        "{out}"
    );
    // Once deployed, nothing differs, and `routes` shows the validator and the model.
    deploy(&dir, "prod", "validate /a");
    let out = ok(&dir, &["diff", "--api", "shop", "--stage", "prod"]);
    assert!(out.contains("no differences"), "{out}");
    let out = ok(&dir, &["routes"]);
    let want = "GET /a  http_proxy  http://127.0.0.1:9001/a -> [127.0.0.1:9001]  authorizer tokens (token)  validator all (body, parameters)  models application/json=A";
    assert!(
        out.lines().any(|l| l.trim() == want),
        "no line {want:?} in:\n{out}"
    );
    let rows = json(&dir, &["routes", "--json"]);
    assert_eq!(
        rows[0]["validator"],
        serde_json::json!({"name": "all", "body": true, "parameters": true})
    );
    assert_eq!(
        rows[0]["models"],
        serde_json::json!({"application/json": "A"})
    );
    assert_eq!(
        rows[0]["authorizer"],
        serde_json::json!({"name": "tokens", "type": "token", "scopes": []})
    );
}

#[test]
fn concurrent_deploys_both_land_and_leave_a_consistent_stage() {
    let dir = offline_dir(&[("GET /who", "http://127.0.0.1:9001/who")]);
    let mut ids = Vec::new();
    for round in 0..4 {
        // Two processes started at the same moment.
        let runs: Vec<_> = ["a", "b"]
            .iter()
            .map(|who| {
                let desc = format!("round {round} {who}");
                spawn_cli(
                    dir.path(),
                    &[
                        "deploy",
                        "--api",
                        "shop",
                        "--stage",
                        "prod",
                        "--description",
                        &desc,
                    ],
                )
            })
            .collect();
        for run in runs {
            let (code, out, err) = run.wait();
            assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
            ids.push(out.trim().to_string());
        }
    }
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "two deploys took the same id: {ids:?}"
    );

    let h = json(&dir, &["history", "--stage", "prod", "--json"]);
    let recorded: BTreeSet<String> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["deployment"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        recorded,
        ids.iter().cloned().collect(),
        "history lost a deploy"
    );
    let current = h["deployment"].as_str().unwrap();
    assert!(ids.iter().any(|i| i == current));
    assert_eq!(
        h["entries"].as_array().unwrap().last().unwrap()["deployment"],
        current
    );
    // Every deployment file is whole and sealed, and the directory validates.
    let out = ok(&dir, &["validate"]);
    assert!(out.contains("valid"), "{out}");
    let leftovers: Vec<String> = ["deployments", "stages"]
        .iter()
        .flat_map(|d| std::fs::read_dir(dir.path().join(d)).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// The prod stage on shop-1 (alias v1) with a hand-written comment and a second variable, and
/// shop-2 deployed on stage `beta`: the canary tests' starting point.
async fn canary_fixture() -> Fixture {
    let fx = fixture("backend://svc:${stageVariables.alias}/who").await;
    deploy(&fx.dir, "prod", "base");
    let stage = read(&fx.dir, "stages/prod.yaml");
    fx.dir.write(
        "stages/prod.yaml",
        &format!("# Production. Ask #shop before changing.\n{stage}variables:\n  alias: v1     # the stable version\n  greeting: hello\n"),
    );
    served_by(fx.gw.addr(), "/prod/who", "v1", "prod on alias v1").await;
    assert_eq!(deploy(&fx.dir, "beta", "next build"), "shop-2");
    fx
}

#[tokio::test]
async fn canary_splits_traffic_promote_moves_all_and_remove_restores() {
    let fx = canary_fixture().await;
    let addr = fx.gw.addr();

    let out = ok(
        &fx.dir,
        &[
            "canary",
            "--stage",
            "prod",
            "--deployment",
            "shop-2",
            "--percent",
            "30",
            "--var",
            "alias=v2",
        ],
    );
    assert_eq!(out, "shop-2\n");
    until_live(&fx.gw, "prod", "canary live", |s| {
        s["canary"]["deployment"] == "shop-2"
    })
    .await;
    // 1,000 requests: the canary (alias overridden to v2) takes 30% +- 5 points. The standard
    // deviation of the share is 1.4 points, so a correct gateway fails this about once in
    // two million runs.
    let counts = count(addr, "/prod/who", 1000, &[]).await;
    let canary = counts.get("v2").copied().unwrap_or(0);
    println!("canary at 30%: {counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 1000, "{counts:?}");
    assert!(
        (250..=350).contains(&canary),
        "canary served {canary} of 1000: {counts:?}"
    );
    // The merged variables: the override wins, the other variable is kept.
    let live = live_stage(&fx.gw, "prod").await.unwrap();
    assert_eq!(
        live["canary"]["variables"],
        serde_json::json!({"alias": "v2", "greeting": "hello"})
    );

    // routes shows both sides and where each resolves.
    let rows = json(&fx.dir, &["routes", "--json"]);
    let side = |canary: bool| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["stage"] == "prod" && r["canary"] == canary)
            .cloned()
            .unwrap()
    };
    assert_eq!(side(false)["uri"], "backend://svc:v1/who");
    assert_eq!(
        side(false)["versions"][0]["targets"][0],
        fx.v1.addr().to_string()
    );
    assert_eq!(side(false)["traffic_percent"], 70.0);
    assert_eq!(side(true)["deployment"], "shop-2");
    assert_eq!(
        side(true)["versions"][0]["targets"][0],
        fx.v2.addr().to_string()
    );

    // Remove: the base deployment serves everything again.
    ok(&fx.dir, &["canary", "--stage", "prod", "--remove"]);
    until_live(&fx.gw, "prod", "canary removed", |s| s["canary"].is_null()).await;
    assert_eq!(
        count(addr, "/prod/who", 100, &[]).await,
        BTreeMap::from([("v1".into(), 100)])
    );

    // Promote: the canary's deployment and variables take all traffic.
    ok(
        &fx.dir,
        &[
            "canary",
            "--stage",
            "prod",
            "--deployment",
            "shop-2",
            "--percent",
            "30",
            "--var",
            "alias=v2",
        ],
    );
    until_live(&fx.gw, "prod", "canary live again", |s| {
        !s["canary"].is_null()
    })
    .await;
    assert_eq!(ok(&fx.dir, &["promote", "--stage", "prod"]), "shop-2\n");
    until_live(&fx.gw, "prod", "promoted", |s| {
        s["deployment"] == "shop-2" && s["canary"].is_null()
    })
    .await;
    assert_eq!(
        count(addr, "/prod/who", 100, &[]).await,
        BTreeMap::from([("v2".into(), 100)])
    );

    // The stage file: promoted, merged, recorded, and the hand-written comments kept.
    let stage = read(&fx.dir, "stages/prod.yaml");
    assert!(
        stage.starts_with("# Production. Ask #shop before changing.\n"),
        "{stage}"
    );
    assert!(stage.contains("deployment: shop-2\n"), "{stage}");
    assert!(
        stage.contains("  alias: v2  # the stable version\n  greeting: hello\n"),
        "{stage}"
    );
    assert!(!stage.contains("canary"), "{stage}");
    let h = json(&fx.dir, &["history", "--stage", "prod", "--json"]);
    let last = h["entries"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last["deployment"].as_str(), last["current"].as_bool()),
        (Some("shop-2"), Some(true))
    );
    let err = fails(&fx.dir, &["promote", "--stage", "prod"]);
    assert!(err.contains("no canary"), "{err}");
}

/// Depends on the lead's proxy work (sticky canary routing in `src/proxy/` and
/// `src/snapshot/`): with `--sticky header:x-user`, one user always lands on one side.
#[tokio::test]
async fn sticky_canary_keeps_each_user_on_one_side() {
    let fx = canary_fixture().await;
    let addr = fx.gw.addr();
    ok(
        &fx.dir,
        &[
            "canary",
            "--stage",
            "prod",
            "--deployment",
            "shop-2",
            "--percent",
            "50",
            "--var",
            "alias=v2",
            "--sticky",
            "header:x-user",
        ],
    );
    assert!(read(&fx.dir, "stages/prod.yaml").contains("sticky: \"header:x-user\""));
    until_live(&fx.gw, "prod", "sticky canary live", |s| {
        !s["canary"].is_null()
    })
    .await;
    let mut sides = BTreeSet::new();
    for user in 0..24 {
        let id = format!("user-{user}");
        let seen = count(addr, "/prod/who", 10, &[("x-user", id.as_str())]).await;
        assert_eq!(seen.len(), 1, "{id} was served by both sides: {seen:?}");
        sides.extend(seen.into_keys());
    }
    // 24 users at 50%: all on one side has a chance of 1 in 8 million.
    assert_eq!(sides.len(), 2, "every user on one side: {sides:?}");
}

/// The line of `needle` in `text`, 1-based.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.starts_with(needle)).unwrap() + 1
}

#[test]
fn validate_names_a_tampered_deployment() {
    let dir = offline_dir(&[("GET /who", "http://127.0.0.1:9001/who")]);
    deploy(&dir, "prod", "sealed");
    let text = read(&dir, "deployments/shop-1.yaml");
    assert!(text.contains("\nhash: \"sha256:"), "{text}");
    ok(&dir, &["validate"]);

    dir.write("deployments/shop-1.yaml", &text.replace("9001", "9002"));
    let (code, out, err) = run_cli(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{out}{err}");
    let want = format!(
        "error: deployments/shop-1.yaml:{}: deployment \"shop-1\" was modified after it was deployed (hash mismatch)",
        line_of(&text, "hash:")
    );
    assert!(
        out.lines().any(|l| l == want),
        "no line {want:?} in:\n{out}{err}"
    );

    // Commands that would leave the tampered file in place refuse, naming it.
    let err = fails(
        &dir,
        &[
            "canary",
            "--stage",
            "prod",
            "--deployment",
            "shop-1",
            "--percent",
            "5",
            "--var",
            "x=y",
        ],
    );
    assert!(err.contains(&want), "{err}");
}

#[tokio::test]
async fn a_running_gateway_keeps_its_snapshot_when_a_deployment_is_tampered_with() {
    let fx = fixture("backend://svc:v1/who").await;
    let addr = fx.gw.addr();
    deploy(&fx.dir, "prod", "sealed");
    served_by(addr, "/prod/who", "v1", "deploy").await;

    let text = read(&fx.dir, "deployments/shop-1.yaml");
    fx.dir
        .write_renamed("deployments/shop-1.yaml", &text.replace("svc:v1", "svc:v2"));
    let gw = &fx.gw;
    eventually(
        "the reload rejects the tampered deployment",
        WAIT,
        || async move {
            gw.admin_get("/config").await.is_some_and(|r| {
                let e = r.json()["last_error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                e.contains("deployments/shop-1.yaml") && e.contains("hash mismatch")
            })
        },
    )
    .await;
    assert_eq!(
        count(addr, "/prod/who", 20, &[]).await,
        BTreeMap::from([("v1".into(), 20)])
    );
}

#[test]
fn refused_commands_name_the_problem_and_write_nothing() {
    let dir = offline_dir(&[("GET orders", "http://127.0.0.1:9001/x")]);
    let listing = |dir: &ConfigDir| -> Vec<String> {
        let mut names: Vec<String> = ["deployments", "stages"]
            .iter()
            .flat_map(|d| std::fs::read_dir(dir.path().join(d)).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    // A draft that does not validate: the problem, with the draft's file and line.
    let err = fails(&dir, &["deploy", "--api", "shop", "--stage", "prod"]);
    assert!(
        err.contains("apis/shop.yaml:3: invalid route \"GET orders\""),
        "{err}"
    );
    // A problem only compilation finds (an unknown backend) is reported on the draft's line.
    dir.write(
        "apis/shop.yaml",
        &draft(&[("GET /x", "backend://nope:v1/x")]),
    );
    let err = fails(&dir, &["deploy", "--api", "shop", "--stage", "prod"]);
    assert!(
        err.contains("apis/shop.yaml:6: unknown backend \"nope\""),
        "{err}"
    );
    let err = fails(&dir, &["deploy", "--api", "nothere", "--stage", "prod"]);
    assert!(err.contains("apis/nothere.yaml"), "{err}");
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));

    dir.write(
        "apis/shop.yaml",
        &draft(&[("GET /x", "backend://svc:live/x")]),
    );
    deploy(&dir, "prod", "ok");
    dir.write(
        "apis/other.yaml",
        &draft(&[("GET /y", "backend://svc:live/y")]),
    );
    let err = fails(&dir, &["deploy", "--api", "other", "--stage", "prod"]);
    assert!(
        err.contains("stage \"prod\" serves api \"shop\", not \"other\""),
        "{err}"
    );
    ok(&dir, &["deploy", "--api", "other", "--stage", "o"]);
    let before = listing(&dir);

    let err = fails(
        &dir,
        &[
            "canary",
            "--stage",
            "prod",
            "--deployment",
            "other-1",
            "--percent",
            "5",
        ],
    );
    assert!(
        err.contains("deployment \"other-1\" belongs to api \"other\""),
        "{err}"
    );
    let err = fails(
        &dir,
        &[
            "canary",
            "--stage",
            "prod",
            "--deployment",
            "shop-1",
            "--percent",
            "150",
        ],
    );
    assert!(err.contains("--percent 150"), "{err}");
    let err = fails(
        &dir,
        &[
            "canary",
            "--stage",
            "prod",
            "--deployment",
            "shop-1",
            "--percent",
            "5",
            "--var",
            "a-b=x",
        ],
    );
    assert!(err.contains("\"a-b\""), "{err}");
    let err = fails(
        &dir,
        &[
            "canary",
            "--stage",
            "prod",
            "--deployment",
            "shop-1",
            "--percent",
            "5",
            "--sticky",
            "ip",
        ],
    );
    assert!(err.contains("sticky"), "{err}");
    let err = fails(&dir, &["promote", "--stage", "prod"]);
    assert!(
        err.contains("stage \"prod\" has no canary to promote"),
        "{err}"
    );
    let err = fails(&dir, &["history", "--stage", "nope"]);
    assert!(
        err.contains("stage \"nope\" does not exist (no stages/nope.yaml)"),
        "{err}"
    );
    let err = fails(&dir, &["diff", "--api", "other", "--stage", "prod"]);
    assert!(err.contains("serves api \"shop\""), "{err}");
    assert_eq!(listing(&dir), before);
}

#[test]
fn routes_shows_where_each_stage_sends_requests() {
    let dir = offline_dir(&[(
        "GET /who/{id}",
        "backend://svc:${stageVariables.alias}/who/{id}",
    )]);
    deploy(&dir, "prod", "first");
    let stage = read(&dir, "stages/prod.yaml");
    dir.write(
        "stages/prod.yaml",
        &format!("{stage}variables: {{ alias: live }}\n"),
    );
    let out = ok(&dir, &["routes"]);
    let want = "GET /who/{id}  http_proxy  backend://svc:live/who/{id} -> v1 95% [127.0.0.1:9001], v2 5% [127.0.0.1:9002]";
    assert!(
        out.lines().any(|l| l.trim() == want),
        "no line {want:?} in:\n{out}"
    );
    assert!(
        out.starts_with("prod /prod  any host  deployment shop-1 (100%)\n"),
        "{out}"
    );
}

#[test]
fn every_command_has_help() {
    let dir = offline_dir(&[]);
    for (command, option) in [
        ("deploy", "--description"),
        ("rollback", "--to"),
        ("history", "--json"),
        ("diff", "--api"),
        ("canary", "--sticky"),
        ("promote", "--stage"),
        ("routes", "--json"),
    ] {
        let out = ok(&dir, &[command, "--help"]);
        assert!(
            out.contains(option) && out.contains("--config"),
            "{command} --help:\n{out}"
        );
    }
}
