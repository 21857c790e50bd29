//! Part of the usage store (`usage`): the shared store on Redis. One Lua script per keyed
//! request checks the plan's bucket and the route's method bucket (GCRA on Redis's own clock,
//! so replicas agree) and counts the quota, atomically: N replicas admit exactly `limit`
//! requests per period. One multiplexed connection (`ConnectionManager`, which reconnects by
//! itself), a timeout on every call, and a one-second pause after a failure so that an outage
//! costs one timeout per second rather than one per request.

use super::Verdict;
use crate::config::usage::redact_url;
use crate::snapshot::quota;
use crate::snapshot::usage::Grant;
use arc_swap::ArcSwapOption;
use redis::aio::ConnectionManager;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// KEYS: the plan's bucket, the method's bucket, the quota counter ("" for none).
/// ARGV: each bucket's microseconds per token and tolerance, the quota's limit (-1: none) and
/// its counter's lifetime in seconds. Returns {0 admit | 1 throttled | 2 quota, wait in
/// microseconds, requests counted in the period}.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function bucket(key, interval, tolerance)
  if key == '' then return nil, 0 end
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  if tat - now > tolerance then return nil, tat - now - tolerance end
  return tat + interval, 0
end
local p_next, p_wait = bucket(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if p_wait > 0 then return {1, p_wait, 0} end
local m_next, m_wait = bucket(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
if m_wait > 0 then return {1, m_wait, 0} end
local used = 0
local limit = tonumber(ARGV[5])
if limit >= 0 then
  used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used >= limit then return {2, 0, used} end
  used = redis.call('INCR', KEYS[3])
  if used == 1 then redis.call('EXPIRE', KEYS[3], ARGV[6]) end
end
if p_next then redis.call('SET', KEYS[1], string.format('%d', p_next), 'PX', math.floor((p_next - now) / 1000) + 1000) end
if m_next then redis.call('SET', KEYS[2], string.format('%d', m_next), 'PX', math.floor((m_next - now) / 1000) + 1000) end
return {0, 0, used}
";

static LUA: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCRIPT));

/// How long requests skip the store after it failed, before one tries it again.
const PAUSE: Duration = Duration::from_secs(1);

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

pub struct Shared {
    url: String,
    timeout: Duration,
    /// Set by `connect` once a runtime that lives as long as the process runs it.
    conn: ArcSwapOption<ConnectionManager>,
    /// Milliseconds since `EPOCH` before which requests do not try the store.
    paused_until: AtomicU64,
    /// Whether the store is failing: logged once when it starts and once when it ends.
    down: AtomicBool,
}

impl Shared {
    pub fn new(url: String, timeout: Duration) -> Shared {
        Shared {
            url,
            timeout,
            conn: ArcSwapOption::empty(),
            paused_until: AtomicU64::new(0),
            down: AtomicBool::new(false),
        }
    }

    /// The URL without its password, for messages.
    pub fn shown(&self) -> String {
        redact_url(&self.url)
    }

    /// Makes the connection (lazily: the first call connects, and a Redis that is down at
    /// start is an outage like any other). Must run on a runtime that outlives every request:
    /// the connection's driver task lives there.
    pub fn connect(&self) -> Result<(), String> {
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| format!("usage store {}: {e}", self.shown()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("usage store {}: {e}", self.shown()))?;
        self.conn.store(Some(Arc::new(manager)));
        Ok(())
    }

    /// Runs the script for one request. `Err`: the store failed (counted and logged here).
    pub async fn check(&self, grant: &Grant, route: &str) -> Result<Verdict, ()> {
        let plan = &grant.plan;
        let method = grant.method(route);
        if plan.throttle.is_none() && method.is_none() && plan.quota.is_none() {
            return Ok(Verdict::Admit);
        }
        if now_ms() < self.paused_until.load(Ordering::Relaxed) {
            return Err(());
        }
        let Some(conn) = self.conn.load_full() else {
            return Err(());
        };
        let mut conn = (*conn).clone();
        let mut call = LUA.prepare_invoke();
        let none = (String::new(), 0, 0);
        let bucket = |l: Option<&crate::snapshot::usage::Limit>| match l {
            Some(l) => (l.store_key.to_string(), l.interval_us, l.tolerance_us),
            None => none.clone(),
        };
        let (pk, pi, pt) = bucket(plan.throttle.as_ref());
        let (mk, mi, mt) = bucket(method);
        let (qk, limit, ttl) = match &plan.quota {
            Some(rule) => {
                let now = quota::now();
                let span = rule.span(now);
                let key = format!("{}{}", plan.quota_key, span.id);
                // Kept a day past the period, so `stagecraft usage` can still read it.
                (
                    key,
                    rule.limit.min(i64::MAX as u64) as i64,
                    span.end - now + 86_400,
                )
            }
            None => (String::new(), -1, 1),
        };
        call.key(pk).key(mk).key(qk);
        call.arg(pi)
            .arg(pt)
            .arg(mi)
            .arg(mt)
            .arg(limit)
            .arg(ttl.max(1));
        let answer = tokio::time::timeout(
            self.timeout,
            call.invoke_async::<(i64, i64, i64)>(&mut conn),
        )
        .await;
        match answer {
            Ok(Ok((code, wait_us, _used))) => {
                // Read first: a swap on every request would bounce this line between cores.
                if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(store = %self.shown(), "usage store is back: counting there again");
                }
                Ok(match code {
                    0 => Verdict::Admit,
                    1 => Verdict::Throttled(Duration::from_micros(wait_us.max(0) as u64)),
                    _ => Verdict::QuotaExceeded,
                })
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                Err(())
            }
            Err(_) => {
                self.failed(&format!("no answer within {:?}", self.timeout));
                Err(())
            }
        }
    }

    fn failed(&self, why: &str) {
        crate::metrics::usage_store_error();
        self.paused_until
            .store(now_ms() + PAUSE.as_millis() as u64, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::error!(
                store = %self.shown(),
                "usage store failed: {why}; keyed requests follow on_store_error until it answers again"
            );
        }
    }
}

/// Reads the counts of a plan's keys in the current period from Redis (`stagecraft usage`).
pub fn read_counts(url: &str, keys: &[String]) -> Result<Vec<u64>, String> {
    let shown = redact_url(url);
    let client = redis::Client::open(url).map_err(|e| format!("usage store {shown}: {e}"))?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .map_err(|e| format!("usage store {shown}: {e}"))?;
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let v: Option<u64> = redis::cmd("GET")
            .arg(k)
            .query(&mut conn)
            .map_err(|e| format!("usage store {shown}: {e}"))?;
        out.push(v.unwrap_or(0));
    }
    Ok(out)
}
