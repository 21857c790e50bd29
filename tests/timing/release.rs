//! The deployment lifecycle against the clock: `stagecraft deploy` is served within a second by
//! a running gateway (the rest of the lifecycle is in `tests/e2e/release.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::release::{count, deploy, draft, fixture, json, ok, read};
use crate::common::{served_by, Stage};

/// The contract: a deployment is served within a second (scaled by `common::patience`).
const SERVED_BOUND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn deploy_is_served_within_a_second_and_draft_edits_only_once_deployed() {
    let _serial = crate::serial().await;
    let fx = fixture("backend://svc:v1/who").await;
    let addr = fx.gw.addr();

    let id = deploy(&fx.dir, "prod", "first release");
    assert_eq!(id, "shop-1");
    let took = served_by(addr, "/prod/who", "v1", "first deploy").await;
    crate::assert_under(took, SERVED_BOUND, "deploy served");
    // The new stage file: api, deployment, history; default base path (no base_path key).
    let stage = read(&fx.dir, "stages/prod.yaml");
    assert!(
        stage.starts_with("api: shop\ndeployment: shop-1\nhistory:\n"),
        "{stage}"
    );
    assert!(!stage.contains("base_path"), "{stage}");

    // Edit the draft. To prove the gateway has reloaded since without serving it, add a stage
    // by hand and wait until that is served: the reload that brought it read every file.
    fx.dir.write(
        "apis/shop.yaml",
        &draft(&[("GET /who", "backend://svc:v2/who")]),
    );
    fx.dir.put_stage("marker", &Stage::new("shop", "shop-1"));
    served_by(addr, "/marker/who", "v1", "marker stage").await;
    assert_eq!(
        count(addr, "/prod/who", 20, &[]).await,
        BTreeMap::from([("v1".into(), 20)])
    );

    let id = deploy(&fx.dir, "prod", "move to v2");
    assert_eq!(id, "shop-2");
    let took = served_by(addr, "/prod/who", "v2", "second deploy").await;
    crate::assert_under(took, SERVED_BOUND, "deploy served");
    assert_eq!(
        count(addr, "/prod/who", 20, &[]).await,
        BTreeMap::from([("v2".into(), 20)])
    );

    // History: every deployment with its time and description, the current one marked.
    let h = json(&fx.dir, &["history", "--stage", "prod", "--json"]);
    assert_eq!(h["deployment"], "shop-2");
    let entries = h["entries"].as_array().unwrap();
    let summary: Vec<(&str, &str, bool)> = entries
        .iter()
        .map(|e| {
            (
                e["deployment"].as_str().unwrap(),
                e["description"].as_str().unwrap(),
                e["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("shop-1", "first release", false),
            ("shop-2", "move to v2", true)
        ]
    );
    for e in entries {
        let at = e["at"].as_str().unwrap();
        assert!(
            at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
            "not RFC 3339 UTC: {at}"
        );
    }
    let text = ok(&fx.dir, &["history", "--stage", "prod"]);
    assert!(
        text.contains("  shop-1 ") && text.contains("first release"),
        "{text}"
    );
    assert!(
        text.contains("* shop-2 ") && text.contains("move to v2"),
        "{text}"
    );
}
