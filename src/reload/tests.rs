//! The reloader on a temporary directory, driven by calling `Reloader::reload` directly: no
//! watcher, no binary, no sleeps.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::snapshot::load::load;
use crate::snapshot::Snapshot;

const GATEWAY: &str = r#"listen: ["127.0.0.1:18080"]
backends:
  b:
    versions:
      v1: { targets: ["127.0.0.1:9001"] }
"#;

const DEPLOYMENT: &str = r#"api: shop
routes:
  - route: "GET /x"
    integration: { type: http_proxy, uri: "backend://b:v1/x" }
"#;

const STAGE: &str = "api: shop\ndeployment: shop-1\nthrottle: { rate: 10, burst: 5 }\n";

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        let d = Dir(tempfile::tempdir().unwrap());
        d.write("gateway.yaml", GATEWAY);
        d.write("deployments/shop-1.yaml", DEPLOYMENT);
        d.write("stages/prod.yaml", STAGE);
        d
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.0.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// What `app::run` does before it starts serving: the first load, the store, the reloader
    /// that owns the carried state from then on.
    fn serve(&self) -> (Arc<Store>, Reloader) {
        let carried = Carried::default();
        let first = load(self.0.path(), Scope::Served, &carried, 1)
            .unwrap()
            .snapshot;
        let store = Arc::new(Store::new(first));
        let reloader = Reloader::new(self.0.path().to_path_buf(), store.clone(), carried);
        (store, reloader)
    }
}

fn base_path(s: &Snapshot) -> &str {
    &s.stages[0].base_path
}

#[test]
fn a_good_directory_loads_and_an_unchanged_one_is_not_republished() {
    let dir = Dir::new();
    let (store, reloader) = dir.serve();
    assert_eq!(store.current().generation, 1);
    assert_eq!(base_path(&store.current()), "/prod");
    for trigger in [Trigger::Poll, Trigger::FileEvent, Trigger::Signal] {
        assert_eq!(reloader.reload(trigger), Outcome::Unchanged);
    }
    assert_eq!(store.current().generation, 1);
    assert_eq!(store.reload_counts(), (0, 0));
}

#[test]
fn a_change_publishes_a_new_generation_that_keeps_the_carried_state() {
    let dir = Dir::new();
    let (store, reloader) = dir.serve();
    let bucket = store.current().stages[0].throttle.clone().unwrap();
    let health = store.current().versions[0].health()[0].clone();

    dir.write("stages/prod.yaml", &format!("{STAGE}base_path: /p\n"));
    assert_eq!(
        reloader.reload(Trigger::FileEvent),
        Outcome::Published { generation: 2 }
    );
    let now = store.current();
    assert_eq!((now.generation, base_path(&now)), (2, "/p"));
    assert_eq!(store.reload_counts(), (1, 0));
    // The stage's throttle settings did not change: the same bucket, not a fresh burst; and the
    // same record of the target's health.
    assert!(Arc::ptr_eq(
        now.stages[0].throttle.as_ref().unwrap(),
        &bucket
    ));
    assert!(Arc::ptr_eq(&now.versions[0].health()[0], &health));
    assert_eq!(reloader.reload(Trigger::Poll), Outcome::Unchanged);
}

#[test]
fn a_broken_file_keeps_the_last_good_snapshot_and_records_the_error() {
    let dir = Dir::new();
    let (store, reloader) = dir.serve();
    dir.write("stages/prod.yaml", "api: shop\ndeployment: shop-9\n");
    assert_eq!(reloader.reload(Trigger::FileEvent), Outcome::Failed);
    assert_eq!(store.current().generation, 1);
    assert_eq!(base_path(&store.current()), "/prod");
    let error = store.last_error().unwrap().message;
    assert_eq!(
        error,
        "error: stages/prod.yaml:2: deployment \"shop-9\" does not exist (no deployments/shop-9.yaml)"
    );
    assert_eq!(store.reload_counts(), (0, 1));

    // The same broken contents are reported once, unless asked again with SIGHUP.
    assert_eq!(reloader.reload(Trigger::Poll), Outcome::Unchanged);
    assert_eq!(reloader.reload(Trigger::Signal), Outcome::Failed);
    assert_eq!(store.reload_counts(), (0, 2));

    // Put back as it was: nothing to load, and the error no longer applies.
    dir.write("stages/prod.yaml", STAGE);
    assert_eq!(reloader.reload(Trigger::Poll), Outcome::Unchanged);
    assert!(store.last_error().is_none());
    assert_eq!(store.reload_counts(), (0, 2));

    // Broken again, then fixed: the next generation, and the error is gone.
    dir.write("stages/prod.yaml", "api: shop\ndeployment: shop-9\n");
    assert_eq!(reloader.reload(Trigger::Poll), Outcome::Failed);
    assert!(store.last_error().is_some());
    dir.write("stages/prod.yaml", &format!("{STAGE}base_path: /fixed\n"));
    assert_eq!(
        reloader.reload(Trigger::Poll),
        Outcome::Published { generation: 2 }
    );
    assert_eq!(base_path(&store.current()), "/fixed");
    assert!(store.last_error().is_none());
}

#[test]
fn a_file_that_cannot_be_read_is_a_failure_too() {
    let dir = Dir::new();
    let (store, reloader) = dir.serve();
    std::fs::remove_file(dir.0.path().join("gateway.yaml")).unwrap();
    assert_eq!(reloader.reload(Trigger::Poll), Outcome::Failed);
    assert!(store
        .last_error()
        .unwrap()
        .message
        .starts_with("error: gateway.yaml: cannot read"));
    assert_eq!(store.current().generation, 1);
}
