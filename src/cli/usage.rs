//! Part of `cli`, beside the data flow: `stagecraft usage --plan P [--key K]`: each key's
//! requests counted in the current quota period and what is left, read from the store the
//! gateway counts in: Redis itself, or the local store's file (saved by the running gateway
//! once a second, so at most a second old).

use super::{emit, print_json, ConfigArg};
use crate::config::{self, Scope};
use crate::snapshot::quota::{self, CounterId, Rule};
use crate::snapshot::usage::{quota_key_prefix, UsageSettings};
use crate::usage::persist;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long)]
    pub plan: String,
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
struct Row {
    key: String,
    enabled: bool,
    used: u64,
    limit: Option<u64>,
    remaining: Option<u64>,
    period: Option<&'static str>,
    period_start: Option<String>,
    period_end: Option<String>,
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("stagecraft usage: {msg}");
    ExitCode::FAILURE
}

fn time(t: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    crate::timefmt::rfc3339(t)
}

pub fn run(a: &Args) -> ExitCode {
    let raw = match config::read_sources(&a.config.dir, Scope::Served)
        .and_then(|s| config::parse_sources(&s))
    {
        Ok(raw) => raw,
        Err(problems) => return fail(&format!("cannot read the configuration:\n{problems}")),
    };
    let Some(plan) = raw.usage_plans.get(&a.plan) else {
        return fail(&format!(
            "no usage plan {:?} (no {}/{}.yaml)",
            a.plan,
            config::USAGE_PLANS_DIR,
            a.plan
        ));
    };
    let keys: Vec<(&String, bool)> = raw
        .api_keys
        .iter()
        .filter(|(name, k)| {
            k.plans.iter().any(|p| p.value == a.plan)
                && a.key.as_ref().is_none_or(|want| want == *name)
        })
        .map(|(name, k)| (name, k.enabled))
        .collect();
    if let Some(k) = &a.key {
        if keys.is_empty() {
            return fail(&format!("no API key {k:?} in plan {:?}", a.plan));
        }
    }
    let rule = plan.quota.as_ref().map(Rule::new);
    let now = quota::now();
    let span = rule.map(|r| r.span(now));
    let settings = UsageSettings::new(&raw);
    let used: Vec<u64> = match (&rule, span) {
        (Some(rule), Some(span)) => match &settings.store {
            config::usage::StoreUrl::Redis(url) => {
                let names: Vec<String> = keys
                    .iter()
                    .map(|(k, _)| format!("{}{}", quota_key_prefix(&a.plan, k, rule), span.id))
                    .collect();
                match crate::usage::shared::read_counts(url, &names) {
                    Ok(v) => v,
                    Err(e) => return fail(&e),
                }
            }
            config::usage::StoreUrl::Local => {
                let file = match persist::read(&settings.state_dir.join(persist::FILE)) {
                    Ok(f) => f,
                    Err(e) => return fail(&e),
                };
                keys.iter()
                    .map(|(k, _)| {
                        let id = CounterId::new(&a.plan, k, rule);
                        file.as_ref()
                            .and_then(|f| {
                                f.counters.iter().find(|e| {
                                    e.period_id == span.id && e.id().as_ref() == Some(&id)
                                })
                            })
                            .map_or(0, |e| e.used)
                    })
                    .collect()
            }
        },
        _ => vec![0; keys.len()],
    };
    let rows: Vec<Row> = keys
        .iter()
        .zip(used)
        .map(|((k, enabled), used)| Row {
            key: (*k).clone(),
            enabled: *enabled,
            used,
            limit: rule.map(|r| r.limit),
            remaining: rule.map(|r| r.limit.saturating_sub(used)),
            period: rule.map(|r| r.period.name()),
            period_start: span.map(|s| time(s.start)),
            period_end: span.map(|s| time(s.end)),
        })
        .collect();
    if a.json {
        return print_json(&rows);
    }
    let mut out = String::new();
    match (rule, span) {
        (Some(r), Some(s)) => out.push_str(&format!(
            "plan {}: {} requests per {} ({} .. {})\n",
            a.plan,
            r.limit,
            r.period.name(),
            time(s.start),
            time(s.end)
        )),
        _ => out.push_str(&format!("plan {}: no quota\n", a.plan)),
    }
    for r in &rows {
        out.push_str(&format!(
            "{}\t{}\tused {}\tremaining {}\n",
            r.key,
            if r.enabled { "enabled" } else { "disabled" },
            r.used,
            r.remaining.map_or("-".to_string(), |n| n.to_string())
        ));
    }
    emit(&out)
}
