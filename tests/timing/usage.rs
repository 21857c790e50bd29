//! A key disabled by `stagecraft keys disable` while traffic runs is refused within a second
//! (DESIGN.md 9: key files apply on reload, no deploy).

use crate::common::usage::{get, setup};
use crate::common::{self, run_cli, ConfigDir, Gateway};

use std::time::{Duration, Instant};

use serde_json::json;

#[tokio::test]
async fn a_key_disabled_while_traffic_runs_is_refused_within_a_second() {
    let dir = ConfigDir::new();
    setup(&dir, &[("gold", json!({"stages": ["shop/prod"]}))]);
    let (code, out, err) = run_cli(
        dir.path(),
        &["keys", "create", "--name", "acme", "--plan", "gold"],
    );
    assert_eq!(code, 0, "{err}");
    let value = out.trim().to_string();
    assert_eq!(value.len(), 40, "{out}");
    let gw = Gateway::start(&dir).await;
    let a = gw.addr();
    assert_eq!(get(a, Some(&value)).await.status, 200);

    let traffic = {
        let value = value.clone();
        tokio::spawn(async move {
            // (seconds since start, status) of every request until the first 403.
            let start = Instant::now();
            let mut seen = Vec::new();
            loop {
                let status = get(a, Some(&value)).await.status;
                seen.push((start.elapsed(), status));
                if status == 403 || start.elapsed() > Duration::from_secs(30) {
                    return (start, seen);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, _, err) = run_cli(dir.path(), &["keys", "disable", "acme"]);
    assert_eq!(code, 0, "{err}");
    let written = Instant::now();
    let (start, seen) = traffic.await.unwrap();
    let (at, last) = *seen.last().unwrap();
    assert_eq!(last, 403, "the key is refused");
    assert!(
        seen.iter().filter(|(_, s)| *s == 200).count() > 1,
        "traffic ran before"
    );
    let refused_after = (start + at).saturating_duration_since(written);
    assert!(
        refused_after <= common::patience(Duration::from_secs(1)),
        "refused {refused_after:?} after the disable"
    );
    // And enabled again.
    let (code, _, err) = run_cli(dir.path(), &["keys", "enable", "acme"]);
    assert_eq!(code, 0, "{err}");
    common::eventually("enabled again", Duration::from_secs(1), || async {
        get(a, Some(&value)).await.status == 200
    })
    .await;
}
