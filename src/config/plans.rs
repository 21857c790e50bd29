//! Part of the first stage of the data flow (`config`): the checks of usage plans and API keys
//! against each other and against the stages they name (DESIGN.md 9), with the file and line
//! to fix. A reference to something that does not exist (yet) is a warning, not an error: key
//! and plan files apply on reload, and a dangling name must never hold back a reload that
//! disables a key.

use super::names::valid_stage_name;
use super::typed::line_of as line;
use super::usage::{ApiStage, KeyHash, MAX_METHOD_THROTTLES};
use super::{Problem, Problems, RawConfig, API_KEYS_DIR, GATEWAY_FILE, USAGE_PLANS_DIR};
use std::collections::{BTreeMap, HashMap};

/// Every problem of `usage:`, `usage-plans/` and `api-keys/`.
pub fn check(raw: &RawConfig) -> Problems {
    let mut p = Problems::default();
    settings(raw, &mut p);
    for (name, plan) in &raw.usage_plans {
        let file = format!("{USAGE_PLANS_DIR}/{name}.yaml");
        if !valid_stage_name(name) {
            p.push(Problem::error(
                &file,
                None,
                format!("invalid usage plan name {name:?} (from the file name): letters, digits, '-' and '_' only"),
            ));
        }
        let mut covered = Vec::new();
        for s in &plan.stages {
            if let Some(problem) = s.problem(&file) {
                p.push(problem);
                continue;
            }
            let Some(stage) = s.ok() else { continue };
            if covered.contains(&stage) {
                p.push(Problem::error(
                    &file,
                    s.line(),
                    format!("stage {stage} is listed twice"),
                ));
            }
            covered.push(stage);
            if let Some(why) = unserved(raw, stage) {
                p.push(Problem::warning(&file, s.line(), why));
            }
        }
        if let Some(t) = &plan.throttle {
            p.extend(t.problems(&file));
        }
        if let Some(q) = &plan.quota {
            let max = q.period.value.max_offset();
            if let Some(o) = q.offset.as_ref().filter(|o| o.value > max) {
                p.push(Problem::error(
                    &file,
                    line(o),
                    format!(
                        "quota offset {} is out of range for a {} period (0 to {max}: {})",
                        o.value,
                        q.period.value.name(),
                        match q.period.value {
                            super::usage::Period::Day => "a day starts at midnight UTC",
                            super::usage::Period::Week =>
                                "the weekday a week starts on, 0 = Sunday",
                            super::usage::Period::Month => "days after the 1st a month starts on",
                        }
                    ),
                ));
            }
        }
        let mut per_stage: HashMap<ApiStage, usize> = HashMap::new();
        for (key, t) in plan.method_keys() {
            p.extend(t.value.problems(&file));
            let m = match key {
                Ok(m) => m,
                Err(e) => {
                    p.push(Problem::error(&file, line(t), e));
                    continue;
                }
            };
            if !covered.contains(&&m.stage) {
                p.push(Problem::error(
                    &file,
                    line(t),
                    format!(
                        "method throttle for {} {}: the plan does not cover stage {}",
                        m.stage, m.route, m.stage
                    ),
                ));
                continue;
            }
            let n = per_stage.entry(m.stage.clone()).or_default();
            *n += 1;
            if *n == MAX_METHOD_THROTTLES + 1 {
                p.push(Problem::error(
                    &file,
                    line(t),
                    format!("more than {MAX_METHOD_THROTTLES} method throttles for stage {} (AWS's limit)", m.stage),
                ));
            }
            if !routes_of(raw, &m.stage).contains(&m.route) && unserved(raw, &m.stage).is_none() {
                p.push(Problem::warning(
                    &file,
                    line(t),
                    format!(
                        "method throttle {:?}: stage {} has no route {:?}",
                        m.route, m.stage, m.route
                    ),
                ));
            }
        }
    }
    keys(raw, &mut p);
    keyed_routes(raw, &mut p);
    p
}

/// Keyed routes that no key could ever call: on a stage no plan covers, or reading the key from
/// an authorizer the route does not have. Warnings: the configuration works, and answers 403.
fn keyed_routes(raw: &RawConfig, p: &mut Problems) {
    use super::usage::ApiKeySource;
    for (id, dep) in &raw.deployments {
        let file = format!("{}/{id}.yaml", super::DEPLOYMENTS_DIR);
        let keyed: Vec<&super::RouteDef> = dep
            .routes
            .iter()
            .filter(|r| r.api_key_required.as_ref().is_some_and(|k| k.value))
            .collect();
        let Some(first) = keyed.first() else { continue };
        if dep.api_key_source.as_ref().map(|s| s.value) == Some(ApiKeySource::Authorizer) {
            for r in &keyed {
                let name = r.authorizer.as_ref().or(dep.default_authorizer.as_ref());
                let function = name
                    .and_then(|n| dep.authorizers.get(&n.value))
                    .is_some_and(|a| a.value.kind.value.is_function());
                if !function {
                    p.push(Problem::warning(
                        &file,
                        r.route.line(),
                        format!(
                            "route {:?} requires an API key from its authorizer (api_key_source: authorizer), but has no token or request authorizer: every request gets 403",
                            r.route.text()
                        ),
                    ));
                }
            }
        }
        for (stage_name, stage) in &raw.stages {
            if stage.deployment.value != *id || stage.api.value != dep.api.value {
                continue;
            }
            let covered = raw.usage_plans.values().any(|plan| {
                plan.stages
                    .iter()
                    .filter_map(|s| s.ok())
                    .any(|s| s.api == stage.api.value && s.stage == *stage_name)
            });
            if !covered {
                p.push(Problem::warning(
                    format!("{}/{stage_name}.yaml", super::STAGES_DIR),
                    None,
                    format!(
                        "route {:?} of deployment {id} requires an API key, but no usage plan covers stage {}/{stage_name}: every request gets 403",
                        first.route.text(),
                        stage.api.value
                    ),
                ));
            }
        }
    }
}

fn settings(raw: &RawConfig, p: &mut Problems) {
    let Some(u) = &raw.gateway.usage else { return };
    if let Some(problem) = u.store.as_ref().and_then(|s| s.problem(GATEWAY_FILE)) {
        p.push(problem);
    }
    if let Some(t) = u
        .timeout_ms
        .as_ref()
        .filter(|t| !(1..=10_000).contains(&t.value))
    {
        p.push(Problem::error(
            GATEWAY_FILE,
            line(t),
            format!("usage timeout_ms {} must be from 1 to 10000", t.value),
        ));
    }
    if let Some(d) = u.state_dir.as_ref().filter(|d| d.value.trim().is_empty()) {
        p.push(Problem::error(
            GATEWAY_FILE,
            line(d),
            "usage state_dir must not be empty",
        ));
    }
}

fn keys(raw: &RawConfig, p: &mut Problems) {
    let mut by_hash: HashMap<KeyHash, &str> = HashMap::new();
    for (name, key) in &raw.api_keys {
        let file = format!("{API_KEYS_DIR}/{name}.yaml");
        if !valid_stage_name(name) {
            p.push(Problem::error(
                &file,
                None,
                format!("invalid API key name {name:?} (from the file name): letters, digits, '-' and '_' only"),
            ));
        }
        match key.hash.get() {
            Err(_) => p.extend(Problems(key.hash.problem(&file).into_iter().collect())),
            Ok(h) => {
                if let Some(other) = by_hash.insert(*h, name) {
                    p.push(Problem::error(
                        &file,
                        key.hash.line(),
                        format!("API key {name:?} has the same value as API key {other:?}: values must be unique"),
                    ));
                }
            }
        }
        // Each stage belongs to at most one of the key's plans (AWS's rule).
        let mut stage_plan: BTreeMap<&ApiStage, &str> = BTreeMap::new();
        for plan_name in &key.plans {
            let Some(plan) = raw.usage_plans.get(&plan_name.value) else {
                p.push(Problem::warning(
                    &file,
                    line(plan_name),
                    format!(
                        "usage plan {:?} does not exist: no {USAGE_PLANS_DIR}/{}.yaml; the key is in no plan by that name",
                        plan_name.value, plan_name.value
                    ),
                ));
                continue;
            };
            for stage in plan.stages.iter().filter_map(|s| s.ok()) {
                if let Some(first) = stage_plan.insert(stage, &plan_name.value) {
                    if first != plan_name.value {
                        p.push(Problem::error(
                            &file,
                            line(plan_name),
                            format!(
                                "usage plans {first:?} and {:?} both cover stage {stage}: a key may be in one plan per stage",
                                plan_name.value
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// Why `stage` serves nothing a plan could cover, if it does not.
fn unserved(raw: &RawConfig, stage: &ApiStage) -> Option<String> {
    match raw.stages.get(&stage.stage) {
        None => Some(format!(
            "stage {:?} does not exist (no stages/{}.yaml): the plan covers nothing there yet",
            stage.stage, stage.stage
        )),
        Some(s) if s.api.value != stage.api => Some(format!(
            "stage {:?} serves api {:?}, not {:?}",
            stage.stage, s.api.value, stage.api
        )),
        Some(_) => None,
    }
}

/// The routes (`GET /x`) the stage's deployment serves, when it can be read.
fn routes_of(raw: &RawConfig, stage: &ApiStage) -> Vec<String> {
    let Some(s) = raw.stages.get(&stage.stage) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let deployments =
        std::iter::once(&s.deployment.value).chain(s.canary.as_ref().map(|c| &c.deployment.value));
    for id in deployments {
        if let Some(d) = raw.deployments.get(id) {
            out.extend(
                d.routes
                    .iter()
                    .filter_map(|r| r.route.ok())
                    .map(|r| r.to_string()),
            );
        }
    }
    out
}
