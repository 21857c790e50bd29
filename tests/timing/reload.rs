//! Hot reload against the clock: every way a file can change is served within a second, and
//! an invalid change keeps the old snapshot serving until a valid one is served, again within a
//! second.
//!
//! Latencies are measured from just after the write returns to the first request (polled
//! every 20 ms on fresh connections) served by the new configuration.

use std::time::Duration;

use crate::common::reload::{fixture, last_error, stage_on, write, Fixture, How, LastError, WAIT};
use crate::common::{
    backend_at, eventually, patience, served_by, Backend, BackendSpec, ConfigDir, Deployment,
    Gateway, Stage,
};

/// The contract: a change is served within one second (scaled by [`patience`]).
const RELOAD_BOUND: Duration = Duration::from_secs(1);

fn assert_fast(took: Duration, what: &str) {
    crate::assert_under(took, RELOAD_BOUND, &format!("{what}: served"));
}

/// Switches stage `s` between the two deployments three times with the same kind of write:
/// a watcher that follows one inode instead of the folder misses the second change.
async fn switches_are_served_within_a_second(how: How) {
    let _serial = crate::serial().await;
    let fx = fixture(ConfigDir::new()).await;
    for (i, (dep, backend)) in [("d-b", "B"), ("d-a", "A"), ("d-b", "B")]
        .into_iter()
        .enumerate()
    {
        write(&fx.dir, how, &ConfigDir::stage_file("s"), &stage_on(dep));
        let what = format!("{how:?} write #{}", i + 1);
        let took = served_by(fx.gw.addr(), "/s/who", backend, &what).await;
        assert_fast(took, &what);
    }
}

#[tokio::test]
async fn in_place_write_is_served_within_a_second() {
    switches_are_served_within_a_second(How::InPlace).await;
}

#[tokio::test]
async fn write_temp_then_rename_is_served_within_a_second() {
    switches_are_served_within_a_second(How::Rename).await;
}

#[tokio::test]
async fn delete_and_recreate_is_served_within_a_second() {
    switches_are_served_within_a_second(How::Recreate).await;
}

#[tokio::test]
async fn configmap_data_symlink_swap_is_served_within_a_second() {
    let _serial = crate::serial().await;
    let fx = fixture(ConfigDir::configmap()).await;
    for (i, (dep, backend)) in [("d-b", "B"), ("d-a", "A"), ("d-b", "B")]
        .into_iter()
        .enumerate()
    {
        fx.dir.put_stage("s", &Stage::new("shop", dep));
        fx.dir.publish();
        let what = format!("ConfigMap ..data swap #{}", i + 1);
        let took = served_by(fx.gw.addr(), "/s/who", backend, &what).await;
        assert_fast(took, &what);
    }
}

#[tokio::test]
async fn new_deployment_and_new_stage_files_are_served_within_a_second() {
    let _serial = crate::serial().await;
    let fx = fixture(ConfigDir::new()).await;
    let c = Backend::start("C").await;

    // What `stagecraft deploy` does: a new deployment file, then the stage points at it.
    fx.dir.write_renamed(
        &ConfigDir::deployment_file("d-c"),
        &Deployment::catch_all("shop", c.addr()).yaml(),
    );
    fx.dir
        .write_renamed(&ConfigDir::stage_file("s"), &stage_on("d-c"));
    let took = served_by(fx.gw.addr(), "/s/who", "C", "new deployment").await;
    assert_fast(took, "new deployment");

    fx.dir
        .write_renamed(&ConfigDir::stage_file("fresh"), &stage_on("d-b"));
    let took = served_by(fx.gw.addr(), "/fresh/who", "B", "new stage file").await;
    assert_fast(took, "new stage file");
    // The old stage is unaffected.
    assert_eq!(
        backend_at(fx.gw.addr(), "/s/who").await.as_deref(),
        Some("C")
    );
}

#[tokio::test]
async fn alias_change_in_gateway_yaml_is_served_within_a_second() {
    let _serial = crate::serial().await;
    let a = Backend::start("A").await;
    let b = Backend::start("B").await;
    let spec = |to_b: bool| {
        let weights = if to_b {
            [("v1", 0), ("v2", 100)]
        } else {
            [("v1", 100), ("v2", 0)]
        };
        BackendSpec::new("svc")
            .version("v1", [a.addr()])
            .version("v2", [b.addr()])
            .alias("live", weights)
    };
    let dir = ConfigDir::new();
    dir.set_backends(&[spec(false)]);
    dir.put_deployment(
        "d",
        &Deployment::new("shop").proxy("ANY /{p+}", "backend://svc:live/{p}"),
    );
    dir.put_stage("s", &Stage::new("shop", "d"));
    let gw = Gateway::start(&dir).await;
    assert_eq!(backend_at(gw.addr(), "/s/who").await.as_deref(), Some("A"));

    // set_backends rewrites gateway.yaml atomically (temp + rename).
    dir.set_backends(&[spec(true)]);
    let took = served_by(gw.addr(), "/s/who", "B", "alias weights change").await;
    assert_fast(took, "alias weights change");
}

#[tokio::test]
async fn sighup_reloads_and_does_not_stop_the_gateway() {
    let _serial = crate::serial().await;
    let fx = fixture(ConfigDir::new()).await;

    // A SIGHUP with nothing changed: still serving the same thing. A request served after
    // kill(2) returned proves the signal did not take the default action (terminate).
    fx.gw.hup();
    assert_eq!(
        backend_at(fx.gw.addr(), "/s/who").await.as_deref(),
        Some("A")
    );
    assert!(fx.gw.is_running(), "SIGHUP stopped the gateway");

    // A change followed by SIGHUP must be served within a second whichever of the
    // watcher and the signal picks it up first.
    fx.dir
        .write_renamed(&ConfigDir::stage_file("s"), &stage_on("d-b"));
    fx.gw.hup();
    let took = served_by(fx.gw.addr(), "/s/who", "B", "change + SIGHUP").await;
    assert_fast(took, "change + SIGHUP");
    assert!(fx.gw.is_running(), "gateway stopped after SIGHUP");
    assert!(fx
        .gw
        .admin_get("/healthz")
        .await
        .is_some_and(|r| r.status == 200));
}

/// Writes an invalid file; every request must keep going to the old snapshot until the
/// gateway has evidently processed the change, then a later valid change is served.
///
/// The evidence is /config's `last_error` naming the file. Where /config does not exist
/// (yet), the old snapshot must instead keep serving for twice the reload bound: a
/// gateway that took the invalid change would have served it by then.
async fn invalid_change_keeps_the_old_snapshot(rel: &str, invalid: &str, mentions: &str) {
    let _serial = crate::serial().await;
    let fx = fixture(ConfigDir::new()).await;
    let addr = fx.gw.addr();

    fx.dir.write_renamed(rel, invalid);
    let written = std::time::Instant::now();
    let gw = &fx.gw;
    eventually(
        &format!("/config last_error mentioning {mentions}"),
        WAIT,
        || async move {
            let served = backend_at(addr, "/s/who").await;
            assert_eq!(
                served.as_deref(),
                Some("A"),
                "the old snapshot stopped serving after an invalid change"
            );
            match last_error(gw).await {
                LastError::Some(e) => e.contains(mentions),
                LastError::None => false,
                LastError::NoEndpoint => written.elapsed() >= 2 * patience(RELOAD_BOUND),
            }
        },
    )
    .await;
    for _ in 0..5 {
        assert_eq!(backend_at(addr, "/s/who").await.as_deref(), Some("A"));
    }
    assert!(
        fx.gw
            .admin_get("/readyz")
            .await
            .is_some_and(|r| r.status == 200),
        "not ready any more"
    );

    // Fix everything: the stage moves to d-b.
    fx.dir
        .write_renamed(&ConfigDir::stage_file("s"), &stage_on("d-b"));
    if rel != ConfigDir::stage_file("s") {
        fx.dir.write_renamed(rel, &fixed_content(&fx, rel));
    }
    let took = served_by(addr, "/s/who", "B", "valid change after an invalid one").await;
    assert_fast(took, "valid change after an invalid one");
}

/// The valid content of files other than the stage that a test broke.
fn fixed_content(fx: &Fixture, rel: &str) -> String {
    match rel {
        "deployments/d-a.yaml" => Deployment::catch_all("shop", fx.a.addr()).yaml(),
        other => panic!("no valid content known for {other}"),
    }
}

#[tokio::test]
async fn yaml_syntax_error_keeps_the_old_snapshot() {
    invalid_change_keeps_the_old_snapshot(
        &ConfigDir::stage_file("s"),
        "api: shop\ndeployment: d-b\nbase_path: /s: x\n",
        "s.yaml",
    )
    .await;
}

#[tokio::test]
async fn stage_on_a_missing_deployment_keeps_the_old_snapshot() {
    invalid_change_keeps_the_old_snapshot(
        &ConfigDir::stage_file("s"),
        &stage_on("d-missing"),
        "s.yaml",
    )
    .await;
}

#[tokio::test]
async fn broken_deployment_file_keeps_the_old_snapshot() {
    // The deployment the stage serves gets a route with a bad syntax.
    invalid_change_keeps_the_old_snapshot(
        &ConfigDir::deployment_file("d-a"),
        "api: shop\nroutes:\n  - route: \"FETCH /x\"\n    integration: {type: http_proxy, uri: \"http://127.0.0.1:1/\"}\n",
        "d-a.yaml",
    )
    .await;
}
