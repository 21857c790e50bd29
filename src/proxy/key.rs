//! Part of the proxy stage, steps 6 and 7 of the pipeline for routes with `api_key_required`:
//! the API key (from `x-api-key`, or the authorizer's `usageIdentifierKey`), looked up by its
//! SHA-256 in the stage's key table (403 INVALID_API_KEY when missing, unknown, disabled or in
//! no plan of the stage), then the key's plan checked and counted by the usage store (429
//! THROTTLED, 429 QUOTA_EXCEEDED, or 503 when a shared store fails under `deny`). Routes
//! without a key never come here, and never touch the store.

use super::context::{ApiKey, RequestCtx};
use super::respond::{GatewayError, Refusal};
use super::route::Matched;
use crate::config::usage::{ApiKeySource, KeyHash};
use crate::metrics::KeyResult;
use crate::usage::{Store, Verdict};
use pingora::http::RequestHeader;

pub const HEADER: &str = "x-api-key";

/// Steps 6 and 7 (the plan's part) for a keyed route. `Err`: the refusal to answer.
pub async fn admit(
    req: &RequestHeader,
    ctx: &mut RequestCtx,
    m: &Matched<'_, '_>,
    store: &Store,
) -> Result<(), Refusal> {
    let value: Option<&str> = match m.deployed().api_key_source {
        ApiKeySource::Header => req.headers.get(HEADER).and_then(|v| v.to_str().ok()),
        ApiKeySource::Authorizer => ctx
            .authorized
            .as_deref()
            .and_then(|d| d.usage_identifier_key.as_deref()),
    };
    let found = value.filter(|v| !v.is_empty()).and_then(|v| {
        let grant = m.stage().keys.as_ref()?.get(&KeyHash::of(v))?;
        Some((v, grant))
    });
    let Some((value, grant)) = found else {
        ctx.snapshot.unplanned.count(KeyResult::Invalid);
        return Err(GatewayError::InvalidApiKey.into());
    };
    let key = ApiKey {
        value: value.into(),
        id: grant.plan.key.clone(),
    };
    ctx.api_key = Some(key);
    let metrics = &grant.plan.metrics;
    match store.check(grant, &m.route.template).await {
        Verdict::Admit => {
            metrics.count(KeyResult::Ok);
            Ok(())
        }
        Verdict::Throttled(wait) => {
            metrics.count(KeyResult::Throttled);
            Err(super::route::throttled(wait))
        }
        Verdict::QuotaExceeded => {
            metrics.count(KeyResult::QuotaExceeded);
            Err(GatewayError::QuotaExceeded.into())
        }
        Verdict::Unavailable => {
            metrics.count(KeyResult::StoreError);
            Err(GatewayError::UsageStoreUnavailable.into())
        }
    }
}
