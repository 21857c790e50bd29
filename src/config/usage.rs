//! Part of the first stage of the data flow (`config`): API keys and usage plans as their files
//! write them (DESIGN.md 9): `api-keys/NAME.yaml` (a key's SHA-256, never its value),
//! `usage-plans/NAME.yaml` (the stages a plan covers, its throttle, quota and per-method
//! throttles), and gateway.yaml's `usage:` (which store counts). The strings with a syntax of
//! their own (a hash, an `api/stage`, a method key, a store URL) are parsed once as the file is
//! read; `validate` checks what refers to what.

use super::route::RouteSpec;
use super::throttle::ThrottleDef;
use super::typed::{Syntax, Typed};
use indexmap::IndexMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};

type Located<T> = serde_saphyr::Spanned<T>;

pub const API_KEYS_DIR: &str = "api-keys";
pub const USAGE_PLANS_DIR: &str = "usage-plans";
/// AWS's bounds on an API key's value.
pub const MIN_KEY_LEN: usize = 20;
pub const MAX_KEY_LEN: usize = 128;
/// AWS's limit on per-method throttles of one stage in one plan.
pub const MAX_METHOD_THROTTLES: usize = 20;
/// How long a store call may take before it counts as a store error.
pub const DEFAULT_STORE_TIMEOUT_MS: u64 = 100;
/// Where local counters are saved, under the configuration directory, when `state_dir` is unset.
pub const DEFAULT_STATE_DIR: &str = ".stagecraft-state";

/// A key's SHA-256: what files, snapshots and lookups hold instead of the value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn of(value: &str) -> KeyHash {
        KeyHash(Sha256::digest(value.as_bytes()).into())
    }

    /// `sha256:` and 64 lowercase hex digits, as key files write it.
    pub fn to_text(self) -> String {
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// Never the whole hash in a debug print: it is not the value, but it is all an offline guess
/// of a weak value would need.
impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHash({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

impl Syntax for KeyHash {
    fn parse(text: &str) -> Result<KeyHash, String> {
        let hex = text.strip_prefix("sha256:").ok_or_else(|| {
            format!("key hash must be \"sha256:\" and 64 hex digits, not {text:.12?}...")
        })?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("key hash must be \"sha256:\" and 64 hex digits".to_string());
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).unwrap_or("00");
            *o = u8::from_str_radix(pair, 16).map_err(|e| format!("key hash: {e}"))?;
        }
        Ok(KeyHash(out))
    }
}

/// Checks a key value a user gives (`keys create --value`) with AWS's messages.
pub fn check_key_value(value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n < MIN_KEY_LEN {
        return Err(format!(
            "API Key value should be at least {MIN_KEY_LEN} characters"
        ));
    }
    if n > MAX_KEY_LEN {
        return Err(format!(
            "API Key value exceeds maximum size of {MAX_KEY_LEN} characters"
        ));
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "API Key value must be printable ASCII without spaces (it travels in a header)".into(),
        );
    }
    Ok(())
}

/// `api-keys/NAME.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyFile {
    pub hash: Typed<KeyHash>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Usage plans by name: at most one of them may cover a given stage.
    #[serde(default)]
    pub plans: Vec<Located<String>>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

fn yes() -> bool {
    true
}

/// `API/STAGE`: one stage of one API, as a plan's `stages` name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiStage {
    pub api: String,
    pub stage: String,
}

impl std::fmt::Display for ApiStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.api, self.stage)
    }
}

impl Syntax for ApiStage {
    fn parse(text: &str) -> Result<ApiStage, String> {
        let (api, stage) = text
            .split_once('/')
            .filter(|(a, s)| super::names::valid_stage_name(a) && super::names::valid_stage_name(s))
            .ok_or_else(|| format!("plan stage {text:?} must be \"API/STAGE\""))?;
        Ok(ApiStage {
            api: api.to_string(),
            stage: stage.to_string(),
        })
    }
}

/// `API/STAGE METHOD /path`: one route of one stage, for a per-method throttle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodKey {
    pub stage: ApiStage,
    /// The route as compiled routes print it (`GET /orders/{id}`).
    pub route: String,
}

impl Syntax for MethodKey {
    fn parse(text: &str) -> Result<MethodKey, String> {
        let bad = || format!("method throttle key {text:?} must be \"API/STAGE METHOD /path\"");
        let (stage, route) = text.trim().split_once(' ').ok_or_else(bad)?;
        let stage = ApiStage::parse(stage).map_err(|_| bad())?;
        let route = RouteSpec::parse(route.trim()).map_err(|e| format!("{}: {e}", bad()))?;
        Ok(MethodKey {
            stage,
            route: route.to_string(),
        })
    }
}

/// `usage-plans/NAME.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsagePlanFile {
    #[serde(default)]
    pub stages: Vec<Typed<ApiStage>>,
    /// Per key, across every stage of the plan.
    #[serde(default)]
    pub throttle: Option<ThrottleDef>,
    #[serde(default)]
    pub quota: Option<QuotaDef>,
    /// Per key and route (`"shop/prod POST /orders"`), on top of `throttle`.
    #[serde(default)]
    pub methods: IndexMap<String, Located<ThrottleDef>>,
    #[serde(default)]
    pub description: Option<String>,
}

impl UsagePlanFile {
    /// The per-method keys, parsed (IndexMap keys cannot be `Typed`).
    pub fn method_keys(
        &self,
    ) -> impl Iterator<Item = (Result<MethodKey, String>, &Located<ThrottleDef>)> {
        self.methods.iter().map(|(k, t)| (MethodKey::parse(k), t))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    #[serde(alias = "DAY")]
    Day,
    #[serde(alias = "WEEK")]
    Week,
    #[serde(alias = "MONTH")]
    Month,
}

impl Period {
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The largest `offset` the period takes (see `QuotaDef::offset`).
    pub fn max_offset(self) -> u32 {
        match self {
            Period::Day => 0,
            Period::Week => 6,
            Period::Month => 27,
        }
    }
}

/// A quota: `limit` requests per key per period, in UTC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaDef {
    pub limit: Located<u64>,
    pub period: Located<Period>,
    /// The day the period starts on, as AWS's current SDKs document it: for `week`, the weekday
    /// (0 = Sunday .. 6 = Saturday); for `month`, days after the 1st (0 .. 27); `day` takes 0.
    #[serde(default)]
    pub offset: Option<Located<u32>>,
}

impl QuotaDef {
    pub fn offset(&self) -> u32 {
        self.offset.as_ref().map_or(0, |o| o.value)
    }
}

/// Where quota counters (and, with Redis, plan throttles) live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// Counters in this process, saved under `state_dir`.
    Local,
    /// `redis://` or `rediss://`: shared by every replica that names it.
    Redis(String),
}

impl Syntax for StoreUrl {
    fn parse(text: &str) -> Result<StoreUrl, String> {
        if text == "local" {
            return Ok(StoreUrl::Local);
        }
        if text.starts_with("redis://") || text.starts_with("rediss://") {
            // The URL's own syntax is checked by the client when the store starts.
            return Ok(StoreUrl::Redis(text.to_string()));
        }
        Err(format!(
            "usage store {:?} must be \"local\" or a redis:// URL",
            redact_url(text)
        ))
    }
}

/// A store URL with its password hidden: how it may appear in a message or a log.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// What a keyed request gets while the shared store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStoreError {
    /// Admit it, counting in this process until the store is back.
    #[default]
    Allow,
    /// Answer 503.
    Deny,
}

/// gateway.yaml `usage:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageDef {
    #[serde(default)]
    pub store: Option<Typed<StoreUrl>>,
    #[serde(default)]
    pub state_dir: Option<Located<String>>,
    #[serde(default)]
    pub on_store_error: Option<Located<OnStoreError>>,
    #[serde(default)]
    pub timeout_ms: Option<Located<u64>>,
}

/// Which API key a keyed route reads (`api_key_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeySource {
    /// The `x-api-key` header.
    #[default]
    #[serde(alias = "HEADER")]
    Header,
    /// The authorizer's `usageIdentifierKey`.
    #[serde(alias = "AUTHORIZER")]
    Authorizer,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hashes_round_trip_and_never_print_whole() {
        let h = KeyHash::of("abcdefghijklmnopqrstuvwxyz");
        let text = h.to_text();
        assert_eq!(text.len(), 7 + 64);
        assert_eq!(KeyHash::parse(&text).unwrap(), h);
        assert!(!format!("{h:?}").contains(&text[7..20]));
        assert!(KeyHash::parse("md5:00").is_err());
        assert!(KeyHash::parse("sha256:zz").is_err());
        assert!(KeyHash::parse(&format!("sha256:{}", "g".repeat(64))).is_err());
    }

    #[test]
    fn key_values_follow_aws_bounds() {
        assert_eq!(
            check_key_value("short").unwrap_err(),
            "API Key value should be at least 20 characters"
        );
        assert_eq!(
            check_key_value(&"a".repeat(129)).unwrap_err(),
            "API Key value exceeds maximum size of 128 characters"
        );
        assert!(check_key_value(&"a".repeat(20)).is_ok());
        assert!(check_key_value(&"a".repeat(128)).is_ok());
        assert!(check_key_value("with a space in it, twenty+").is_err());
    }

    #[test]
    fn stage_and_method_keys() {
        let s = ApiStage::parse("shop/prod").unwrap();
        assert_eq!(s.to_string(), "shop/prod");
        assert!(ApiStage::parse("shop").is_err());
        assert!(ApiStage::parse("shop/prod/x").is_err());
        let m = MethodKey::parse("shop/prod  POST /orders/{id}").unwrap();
        assert_eq!(m.stage, s);
        assert_eq!(m.route, "POST /orders/{id}");
        assert!(MethodKey::parse("shop/prod").is_err());
        assert!(MethodKey::parse("shop/prod FETCH /x").is_err());
    }

    #[test]
    fn store_urls_hide_passwords() {
        assert_eq!(StoreUrl::parse("local").unwrap(), StoreUrl::Local);
        assert!(matches!(
            StoreUrl::parse("redis://127.0.0.1:6379/0"),
            Ok(StoreUrl::Redis(_))
        ));
        let e = StoreUrl::parse("http://user:secret@host").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert_eq!(redact_url("redis://:pw@h:1/0"), "redis://***@h:1/0");
    }
}
