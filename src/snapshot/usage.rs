//! Part of the second stage of the data flow (`snapshot`): API keys and usage plans compiled
//! into one table per stage (`KeyTable`): from a key's SHA-256 to what the key may do there
//! (`Grant`): its plan's throttle bucket (one per key, shared by every stage of the plan), its
//! per-method buckets on this stage, its quota rule and counter. Everything a keyed request
//! needs is built here, so the request path hashes the key, looks it up, and counts. Buckets and
//! counters come from `Carried`, so a reload (a key disabled, a plan's limit raised) keeps them.

use super::quota::{self, CounterId, Counters, Rule};
use super::throttle::{Bucket, Buckets};
use crate::config::usage::{ApiKeySource, KeyHash, OnStoreError, StoreUrl};
use crate::config::RawConfig;
use crate::metrics::PlanMetrics;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// gateway.yaml `usage:`, resolved. Read at start; a change needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSettings {
    pub store: StoreUrl,
    pub state_dir: PathBuf,
    pub on_store_error: OnStoreError,
    pub timeout: Duration,
}

impl UsageSettings {
    pub fn new(raw: &RawConfig) -> UsageSettings {
        use crate::config::usage::{DEFAULT_STATE_DIR, DEFAULT_STORE_TIMEOUT_MS};
        let u = raw.gateway.usage.as_ref();
        let state_dir = match u.and_then(|u| u.state_dir.as_ref()) {
            Some(d) => raw.dir.join(&d.value),
            None => raw.dir.join(DEFAULT_STATE_DIR),
        };
        UsageSettings {
            store: u
                .and_then(|u| u.store.as_ref())
                .and_then(|s| s.ok().cloned())
                .unwrap_or(StoreUrl::Local),
            state_dir,
            on_store_error: u
                .and_then(|u| u.on_store_error.as_ref())
                .map(|o| o.value)
                .unwrap_or_default(),
            timeout: Duration::from_millis(
                u.and_then(|u| u.timeout_ms.as_ref())
                    .map_or(DEFAULT_STORE_TIMEOUT_MS, |t| t.value),
            ),
        }
    }
}

/// A token bucket with its settings: the local bucket, and what a shared store needs to keep
/// the same bucket (microseconds per token and the burst's tolerance, and its key there).
#[derive(Debug)]
pub struct Limit {
    pub bucket: Arc<Bucket>,
    pub interval_us: u64,
    pub tolerance_us: u64,
    pub store_key: Box<str>,
}

impl Limit {
    fn new(
        buckets: &Buckets,
        owner: &str,
        store_key: String,
        rate: f64,
        burst: u64,
    ) -> Option<Limit> {
        let bucket = buckets.shared(owner, rate, burst)?;
        let interval_us = (1e6 / rate).max(1.0) as u64;
        Some(Limit {
            bucket,
            interval_us,
            tolerance_us: interval_us.saturating_mul(burst.saturating_sub(1)),
            store_key: store_key.into(),
        })
    }
}

/// The shared store's keys of one key in one plan start with this: one hash tag per key and
/// plan, so that every store key of one request is in one slot, as a Redis cluster needs for
/// one script.
pub fn store_tag(plan: &str, key: &str) -> String {
    format!("stagecraft:{{{plan}:{key}}}")
}

/// The prefix of a quota's counter in the shared store; the period's id follows it. The
/// gateway counts there and `stagecraft usage` reads there.
pub fn quota_key_prefix(plan: &str, key: &str, rule: &Rule) -> String {
    format!(
        "{}:q:{}:{}:",
        store_tag(plan, key),
        rule.period.name(),
        rule.offset
    )
}

/// One key in one plan: what is checked and counted for every stage the plan covers.
#[derive(Debug)]
pub struct PlanKey {
    pub plan: Arc<str>,
    pub key: Arc<str>,
    pub throttle: Option<Limit>,
    pub quota: Option<Rule>,
    pub counter: Arc<quota::Counter>,
    /// `stagecraft:{PLAN:KEY}:q:PERIOD:OFFSET:`, followed by the period's id.
    pub quota_key: Box<str>,
    pub metrics: Arc<PlanMetrics>,
}

/// What a key may do on one stage.
#[derive(Debug)]
pub struct Grant {
    pub plan: Arc<PlanKey>,
    /// Per-method buckets on this stage, by route (`POST /orders`).
    pub methods: Box<[(Box<str>, Limit)]>,
}

impl Grant {
    pub fn method(&self, route: &str) -> Option<&Limit> {
        self.methods
            .iter()
            .find(|(r, _)| &**r == route)
            .map(|(_, l)| l)
    }
}

/// The enabled keys in a plan that covers one stage, by hash.
#[derive(Debug, Default)]
pub struct KeyTable {
    keys: HashMap<KeyHash, Grant>,
}

impl KeyTable {
    pub fn get(&self, hash: &KeyHash) -> Option<&Grant> {
        self.keys.get(hash)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The key tables of every covered stage, by (API, stage), and the metrics of keys in no plan.
#[derive(Debug)]
pub struct Compiled {
    pub tables: HashMap<(String, String), Arc<KeyTable>>,
    /// Counts refusals of keys that are in no plan of the stage (plan label `""`).
    pub unplanned: Arc<PlanMetrics>,
}

/// Builds every stage's key table. Invalid entries were reported by `validate`; here they are
/// left out (a key with a broken hash matches nothing).
pub fn compile(raw: &RawConfig, buckets: &Buckets, counters: &Counters) -> Compiled {
    let mut tables: HashMap<(String, String), KeyTable> = HashMap::new();
    let mut metrics: HashMap<&str, Arc<PlanMetrics>> = HashMap::new();
    for (key_name, key) in &raw.api_keys {
        let Some(hash) = key.hash.ok().copied() else {
            continue;
        };
        if !key.enabled {
            continue;
        }
        for plan_name in &key.plans {
            let Some(plan) = raw.usage_plans.get(&plan_name.value) else {
                continue;
            };
            let pname = plan_name.value.as_str();
            let m = metrics
                .entry(pname)
                .or_insert_with(|| Arc::new(PlanMetrics::new(pname)))
                .clone();
            let owner = format!("plan {pname} key {key_name}");
            let tag = store_tag(pname, key_name);
            let throttle = plan.throttle.as_ref().and_then(|t| {
                Limit::new(
                    buckets,
                    &owner,
                    format!("{tag}:t"),
                    t.rate.value,
                    t.burst.value,
                )
            });
            let quota = plan.quota.as_ref().map(Rule::new);
            let counter_rule = quota.unwrap_or(Rule {
                limit: u64::MAX,
                period: crate::config::usage::Period::Day,
                offset: 0,
            });
            let counter = counters.counter(CounterId::new(pname, key_name, &counter_rule));
            let quota_key = quota_key_prefix(pname, key_name, &counter_rule);
            let planned = Arc::new(PlanKey {
                plan: pname.into(),
                key: key_name.as_str().into(),
                throttle,
                quota,
                counter,
                quota_key: quota_key.into(),
                metrics: m,
            });
            for stage in plan.stages.iter().filter_map(|s| s.ok()) {
                let methods: Vec<(Box<str>, Limit)> = plan
                    .method_keys()
                    .filter_map(|(k, t)| Some((k.ok()?, t)))
                    .filter(|(k, _)| k.stage == *stage)
                    .filter_map(|(k, t)| {
                        let (rate, burst) = (t.value.rate.value, t.value.burst.value);
                        let owner = format!("{owner} method {stage} {}", k.route);
                        let key = format!("{tag}:t:{stage} {}", k.route);
                        Some((
                            k.route.into(),
                            Limit::new(buckets, &owner, key, rate, burst)?,
                        ))
                    })
                    .collect();
                let table = tables
                    .entry((stage.api.clone(), stage.stage.clone()))
                    .or_default();
                // Validation refuses two plans of one key on a stage; the first one wins if
                // an invalid configuration is compiled anyway (`validate` shows it).
                table.keys.entry(hash).or_insert_with(|| Grant {
                    plan: planned.clone(),
                    methods: methods.into(),
                });
            }
        }
    }
    Compiled {
        tables: tables.into_iter().map(|(k, t)| (k, Arc::new(t))).collect(),
        unplanned: Arc::new(PlanMetrics::new("")),
    }
}

/// Which key a deployment's keyed routes read.
pub fn key_source(s: Option<&serde_saphyr::Spanned<ApiKeySource>>) -> ApiKeySource {
    s.map(|s| s.value).unwrap_or_default()
}
