//! Part of `template` (beside the data flow): `$context`: the request facts a template can read,
//! and the override maps it can write (`requestOverride.{header,path,querystring}`,
//! `responseOverride.{status,header}`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::json::{from_serde, to_serde};
use super::value::{Heap, MapId, Value};

/// `$context.identity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Identity {
    /// `$context.identity.sourceIp`
    pub source_ip: String,
    /// `$context.identity.userAgent`
    pub user_agent: String,
    /// `$context.identity.apiKey`: null when the route takes no key, as in AWS.
    pub api_key: Option<String>,
    /// `$context.identity.apiKeyId`
    pub api_key_id: Option<String>,
}

/// The fixed `$context` fields of a request. Anything else (authorizer, error, more identity
/// keys, ...) goes in `extra`, which is deep-merged over these fields (a nested object merges
/// key by key, anything else replaces).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContextData {
    pub request_id: String,
    pub extended_request_id: String,
    pub stage: String,
    pub http_method: String,
    pub resource_path: String,
    pub path: String,
    pub protocol: String,
    pub request_time: String,
    pub request_time_epoch: i64,
    pub domain_name: String,
    pub domain_prefix: String,
    pub api_id: String,
    pub account_id: String,
    pub deployment_id: String,
    pub resource_id: String,
    pub identity: Identity,
    /// `$context.isCanaryRequest`; absent (renders empty) when None.
    pub is_canary_request: Option<bool>,
    /// Overrides already set (by the request template, when rendering a response template).
    pub request_override: RequestOverrides,
    /// Overrides already set (by the request template, when rendering a response template).
    pub response_override: Overrides,
    /// More `$context` entries, deep-merged over the fields above.
    pub extra: Vec<(String, serde_json::Value)>,
}

/// `$context.responseOverride` after a render.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Overrides {
    /// `responseOverride.status`, when set to a status in 100..=599 (other values are ignored,
    /// as AWS does).
    pub status: Option<u16>,
    /// `responseOverride.header.<name>` in the order they were set.
    pub headers: Vec<(String, String)>,
    /// Any other key the template stored under `responseOverride` (AWS keeps them and a
    /// response template can read them back).
    pub other: Vec<(String, serde_json::Value)>,
}

/// `$context.requestOverride` after a render.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestOverrides {
    /// `requestOverride.header.<name>`
    pub header: Vec<(String, String)>,
    /// `requestOverride.path.<name>`
    pub path: Vec<(String, String)>,
    /// `requestOverride.querystring.<name>`
    pub querystring: Vec<(String, String)>,
}

fn put(heap: &mut Heap, map: MapId, key: &str, v: Value) {
    heap.map_mut(map).put(Arc::from(key), v);
}

fn string_map(heap: &mut Heap, pairs: &[(String, String)]) -> Value {
    let (id, v) = heap.new_map();
    for (k, val) in pairs {
        put(heap, id, k, Value::str(val));
    }
    v
}

fn merge(heap: &mut Heap, map: MapId, key: &str, v: &serde_json::Value) {
    if let serde_json::Value::Object(o) = v {
        if let Some(Value::Map(inner)) = heap.map(map).entries.get(key).cloned() {
            for (k, x) in o {
                merge(heap, inner, k, x);
            }
            return;
        }
    }
    let val = from_serde(heap, v, 0);
    put(heap, map, key, val);
}

/// Builds the `$context` map in the heap (keys in the order AWS's `$context.keySet()` showed).
pub(crate) fn build(heap: &mut Heap, c: &ContextData) -> Value {
    let (id, ctx) = heap.new_map();
    let s = |x: &String| Value::str(x);
    put(heap, id, "resourceId", s(&c.resource_id));
    put(heap, id, "resourcePath", s(&c.resource_path));
    put(heap, id, "httpMethod", s(&c.http_method));
    put(heap, id, "extendedRequestId", s(&c.extended_request_id));
    put(heap, id, "requestTime", s(&c.request_time));
    put(heap, id, "path", s(&c.path));
    put(heap, id, "accountId", s(&c.account_id));
    put(heap, id, "protocol", s(&c.protocol));
    let (ro, rov) = heap.new_map();
    let h = string_map(heap, &c.request_override.header);
    put(heap, ro, "header", h);
    let p = string_map(heap, &c.request_override.path);
    put(heap, ro, "path", p);
    let q = string_map(heap, &c.request_override.querystring);
    put(heap, ro, "querystring", q);
    put(heap, id, "requestOverride", rov);
    put(heap, id, "stage", s(&c.stage));
    put(heap, id, "domainPrefix", s(&c.domain_prefix));
    put(
        heap,
        id,
        "requestTimeEpoch",
        Value::Int(c.request_time_epoch),
    );
    put(heap, id, "requestId", s(&c.request_id));
    let (ident, identv) = heap.new_map();
    put(heap, ident, "sourceIp", s(&c.identity.source_ip));
    put(heap, ident, "userAgent", s(&c.identity.user_agent));
    if let Some(k) = &c.identity.api_key {
        put(heap, ident, "apiKey", s(k));
    }
    if let Some(k) = &c.identity.api_key_id {
        put(heap, ident, "apiKeyId", s(k));
    }
    put(heap, id, "identity", identv);
    put(heap, id, "domainName", s(&c.domain_name));
    put(heap, id, "deploymentId", s(&c.deployment_id));
    let (rs, rsv) = heap.new_map();
    let hh = string_map(heap, &c.response_override.headers);
    put(heap, rs, "header", hh);
    if let Some(st) = c.response_override.status {
        put(heap, rs, "status", Value::Int(i64::from(st)));
    }
    for (k, v) in &c.response_override.other {
        let val = from_serde(heap, v, 0);
        put(heap, rs, k, val);
    }
    put(heap, id, "responseOverride", rsv);
    put(heap, id, "apiId", s(&c.api_id));
    if let Some(b) = c.is_canary_request {
        put(heap, id, "isCanaryRequest", Value::Bool(b));
    }
    for (k, v) in &c.extra {
        merge(heap, id, k, v);
    }
    ctx
}

fn string_pairs(heap: &Heap, v: &Value, max_depth: usize) -> Vec<(String, String)> {
    let Value::Map(id) = v else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, val) in heap.map(*id).ordered() {
        if val.is_null() {
            continue;
        }
        if let Ok(s) = heap.to_java_string(val, max_depth) {
            out.push((k.to_string(), s));
        }
    }
    out
}

fn status_of(v: &Value) -> Option<u16> {
    let n = match v {
        Value::Int(i) => *i,
        Value::Float(f) if f.fract() == 0.0 => *f as i64,
        Value::Str(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    if (100..=599).contains(&n) {
        u16::try_from(n).ok()
    } else {
        None
    }
}

/// Reads the overrides back from a (possibly modified) `$context` map.
pub(crate) fn read_back(
    heap: &Heap,
    ctx: &Value,
    max_depth: usize,
) -> (Overrides, RequestOverrides) {
    let ro = heap.map_get(ctx, "requestOverride");
    let request = RequestOverrides {
        header: string_pairs(heap, &heap.map_get(&ro, "header"), max_depth),
        path: string_pairs(heap, &heap.map_get(&ro, "path"), max_depth),
        querystring: string_pairs(heap, &heap.map_get(&ro, "querystring"), max_depth),
    };
    let rs = heap.map_get(ctx, "responseOverride");
    let mut response = Overrides {
        status: status_of(&heap.map_get(&rs, "status")),
        headers: string_pairs(heap, &heap.map_get(&rs, "header"), max_depth),
        other: Vec::new(),
    };
    if let Value::Map(id) = &rs {
        for (k, val) in heap.map(*id).ordered() {
            if &**k == "status" || &**k == "header" || val.is_null() {
                continue;
            }
            response.other.push((k.to_string(), to_serde(heap, val)));
        }
    }
    (response, request)
}
