//! Part of `cli`, beside the data flow: `stagecraft routes`: per stage (and canary), each route,
//! its integration type and where its URI resolves, e.g. `backend://orders:live/x -> v1 95%
//! [127.0.0.1:9001], v2 5% [...]`; or `--json` for scripts (one object per route).

use super::{emit, failed, print_json, ConfigArg};
use crate::release::RouteRow;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON: [{stage, base_path, host, canary, deployment, traffic_percent, route,
    /// integration, uri, endpoint, versions: [{name, weight, percent, targets}], error,
    /// validator: {name, body, parameters} | null, models: {CONTENT_TYPE: MODEL},
    /// authorizer: {name, type, scopes} | null, api_key: "header" | "authorizer" | null}].
    #[arg(long)]
    pub json: bool,
}

/// `95`, or `33.3` when not whole.
fn pct(p: f64) -> String {
    if (p - p.round()).abs() < 0.05 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn target(r: &RouteRow) -> String {
    if let Some(e) = &r.error {
        return format!("{} -> 500: {e}", r.uri.as_deref().unwrap_or("-"));
    }
    let Some(uri) = &r.uri else {
        return "-".into();
    };
    let versions: Vec<String> = r
        .versions
        .iter()
        .map(|v| {
            let targets = format!("[{}]", v.targets.join(", "));
            match &v.name {
                Some(n) => format!("{n} {} {targets}", pct(v.percent)),
                None => targets,
            }
        })
        .collect();
    format!("{uri} -> {}", versions.join(", "))
}

/// `  authorizer users (jwt, scopes orders/write)  validator all (body, parameters)  models
/// application/json=Order`, or nothing.
fn validation(r: &RouteRow) -> String {
    let mut out = String::new();
    if let Some(a) = &r.authorizer {
        let scopes = if a.scopes.is_empty() {
            String::new()
        } else {
            format!(", scopes {}", a.scopes.join(" "))
        };
        out.push_str(&format!("  authorizer {} ({}{scopes})", a.name, a.kind));
    }
    if let Some(source) = r.api_key {
        out.push_str(&format!("  api key ({source})"));
    }
    if let Some(v) = &r.validator {
        let checks: Vec<&str> = [(v.body, "body"), (v.parameters, "parameters")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, what)| *what)
            .collect();
        let checks = if checks.is_empty() {
            "checks nothing".to_string()
        } else {
            checks.join(", ")
        };
        out.push_str(&format!("  validator {} ({checks})", v.name));
    }
    if !r.models.is_empty() {
        let models: Vec<String> = r.models.iter().map(|(ct, m)| format!("{ct}={m}")).collect();
        out.push_str(&format!("  models {}", models.join(", ")));
    }
    out
}

pub fn run(a: &Args) -> ExitCode {
    let rows = match crate::release::routes(&a.config.dir) {
        Ok(r) => r,
        Err(e) => return failed("routes", &e),
    };
    if a.json {
        return print_json(&rows);
    }
    let width = rows.iter().map(|r| r.route.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut heading = None;
    for r in &rows {
        let this = (r.stage.as_str(), r.canary);
        if heading != Some(this) {
            heading = Some(this);
            let host = r.host.as_deref().unwrap_or("any host");
            let side = if r.canary { "canary" } else { "deployment" };
            out.push_str(&format!(
                "{} {}  {host}  {side} {} ({})\n",
                r.stage,
                r.base_path,
                r.deployment,
                pct(r.traffic_percent)
            ));
        }
        out.push_str(&format!(
            "  {:width$}  {:10}  {}{}\n",
            r.route,
            r.integration,
            target(r),
            validation(r)
        ));
    }
    emit(&out)
}
