//! The authorize step's own work for a request whose decision is cached (issue 16's budget: a
//! cached allow adds at most 3 µs of CPU over the same route without an authorizer): the
//! identity copied out of the header, its SHA-256 cache key, the lookup in the authorizer's
//! decision cache (moka, as the gateway builds it), the request's `methodArn`, and the cached
//! policy evaluated against it. Each iteration enters a current-thread runtime once to await the
//! lookup, which the gateway does not pay (it is already in one): the figure is an upper bound.
//! And a JWT authorizer's check of a token it has not cached: RS256 (a 2048-bit key made by
//! `openssl`) and ES256 (P-256, made by rcgen), signature and claims, as `verify_jwt` does it per
//! request (budget: 15 µs). Figures in README.md.

use base64::Engine as _;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use stagecraft::proxy::authorize::{cache_key, verify_jwt};
use stagecraft::snapshot::authorizer::{Caches, Decision, JwtAuthorizer};
use stagecraft::snapshot::jwks::{Registry, Source};
use stagecraft::snapshot::policy::{method_arn, Policy};
use std::sync::Arc;
use std::time::Duration;

/// The gateway's allocator (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiaHR0cHM6Ly9pZHAuZXhhbXBsZS5jb20vIiwiYXVkIjoib3JkZXJzLWFwaSIsImV4cCI6MTg5MzQ1NjAwMH0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1zaWduYXR1cmUtb2YtdGhlLXRva2Vu";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cache = Caches::default().shared("bench".into(), Duration::from_secs(300), 10_000);
    let policy = Policy::parse(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "arn:aws:execute-api:local:000000000000:shop/prod/DELETE/*"},
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["arn:aws:execute-api:local:000000000000:shop/prod/GET/*", "arn:aws:execute-api:local:000000000000:shop/prod/POST/orders"]},
        ]
    }))
    .expect("policy");
    let decision = Arc::new(Decision {
        principal_id: "user-42".into(),
        policy,
        ..Decision::default()
    });
    let key = cache_key(&[TOKEN.to_string()]);
    rt.block_on(cache.insert(key, decision));
    // Other identities in the cache, as under load.
    for i in 0..5_000 {
        let k = cache_key(&[format!("{TOKEN}{i}")]);
        rt.block_on(cache.insert(k, Arc::new(Decision::default())));
    }
    c.bench_function("cached allow: key, lookup, methodArn, policy", |b| {
        b.iter(|| {
            let identity = [black_box(TOKEN).to_string()];
            let key = cache_key(&identity);
            let d = rt.block_on(cache.get(&key)).expect("cached");
            let arn = method_arn("local", "000000000000", "shop", "prod", "GET", "/orders/42");
            black_box(d.policy.evaluate(&arn))
        })
    });
    c.bench_function("of which: the SHA-256 cache key", |b| {
        b.iter(|| black_box(cache_key(&[black_box(TOKEN).to_string()])))
    });
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA key by `openssl`: its signing key and its JWK.
fn rsa(dir: &std::path::Path) -> (EncodingKey, serde_json::Value) {
    let key = dir.join("rsa.pem");
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl")
    };
    let path = key.to_str().expect("utf-8 path");
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        path,
    ]);
    let out =
        String::from_utf8(run(&["rsa", "-noout", "-modulus", "-in", path]).stdout).expect("text");
    let hex = out.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let pem = std::fs::read(&key).expect("key file");
    (
        EncodingKey::from_rsa_pem(&pem).expect("rsa pem"),
        serde_json::json!({"kty": "RSA", "kid": "rsa-1", "e": "AQAB", "n": b64(&n)}),
    )
}

fn jwt(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (rsa_key, rsa_jwk) = rsa(dir.path());
    let ec = rcgen::KeyPair::generate().expect("P-256 key");
    let raw = ec.public_key_raw();
    let ec_jwk = serde_json::json!({"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..])});
    let file = dir.path().join("jwks.json");
    std::fs::write(
        &file,
        serde_json::json!({"keys": [rsa_jwk.clone(), ec_jwk.clone()]}).to_string(),
    )
    .expect("jwks");
    let registry = Registry::default();
    let (keys, problem) = registry.shared(Source::File(file), None);
    assert!(problem.is_none(), "{problem:?}");
    let authorizer = JwtAuthorizer::new(
        Box::new(["https://idp.example.test/".to_string()]),
        Box::new(["orders-api".into()]),
        false,
        60,
        Box::new([keys]),
    );
    let claims = serde_json::json!({
        "sub": "user-42", "iss": "https://idp.example.test/", "aud": "orders-api",
        "exp": 4_000_000_000u64, "iat": 1_700_000_000u64, "scope": "orders/read orders/write",
        "email": "ada@example.test",
    });
    let token = |alg: Algorithm, kid: &str, key: &EncodingKey| {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        format!("Bearer {}", encode(&h, &claims, key).expect("sign"))
    };
    let rs256 = token(Algorithm::RS256, "rsa-1", &rsa_key);
    let es256 = token(
        Algorithm::ES256,
        "ec-1",
        &EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).expect("ec pem"),
    );
    for (name, t) in [
        ("JWT check, RS256, not cached", &rs256),
        ("JWT check, ES256, not cached", &es256),
    ] {
        assert!(rt.block_on(verify_jwt(&authorizer, t)).is_ok(), "{name}");
        c.bench_function(name, |b| {
            b.iter(|| black_box(rt.block_on(verify_jwt(&authorizer, black_box(t)))))
        });
    }
    // How much of a check is the signature: ring's verification alone, on the same tokens.
    let public = |jwk: serde_json::Value| {
        jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk).expect("a jwk"))
            .expect("a public key")
    };
    let (rsa_public, ec_public) = (public(rsa_jwk), public(ec_jwk));
    for (name, t, key, alg) in [
        (
            "of which: the RS256 signature alone",
            &rs256,
            &rsa_public,
            Algorithm::RS256,
        ),
        (
            "of which: the ES256 signature alone",
            &es256,
            &ec_public,
            Algorithm::ES256,
        ),
    ] {
        let token = t.trim_start_matches("Bearer ");
        let (message, signature) = token.rsplit_once('.').expect("a signed token");
        let ok = jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg);
        assert!(ok.expect("verify"), "{name}");
        c.bench_function(name, |b| {
            b.iter(|| {
                black_box(jsonwebtoken::crypto::verify(
                    black_box(signature),
                    message.as_bytes(),
                    key,
                    alg,
                ))
            })
        });
    }
}

criterion_group!(benches, bench, jwt);
criterion_main!(benches);
