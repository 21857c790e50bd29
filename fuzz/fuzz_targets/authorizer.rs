//! Fuzzes what an authorizer reads from outside: a function's answer (its JSON, the invocation's
//! status and error flag) turned into a decision and the decision's policy evaluated against
//! request ARNs, and a bearer token checked by a JWT authorizer against a fixed key set. Input:
//! one selector byte (even: an answer; odd: a token), then the bytes. A panic or a hang is a bug;
//! a token the fuzzer makes must never pass (it cannot sign with the key set's keys).
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use stagecraft::proxy::authorize::{function_decision, verify_jwt};
use stagecraft::snapshot::authorizer::JwtAuthorizer;
use stagecraft::snapshot::jwks::{Registry, Source};

/// RFC 7515's example P-256 key (public half) and an RSA key from RFC 7517, under kids a
/// fuzzer can find in the seeds.
const JWKS: &str = r#"{"keys": [
  {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
  {"kty": "RSA", "kid": "rsa-1", "e": "AQAB", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
]}"#;

struct Fixture {
    rt: tokio::runtime::Runtime,
    jwt: JwtAuthorizer,
    /// Kept, so the key set's registry stays reachable (LeakSanitizer reports what is not).
    _registry: Registry,
    _dir: std::path::PathBuf,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("stagecraft-fuzz-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("jwks.json");
    std::fs::write(&file, JWKS).expect("write the key set");
    let registry = Registry::default();
    let (keys, problem) = registry.shared(Source::File(file), None);
    assert!(problem.is_none(), "{problem:?}");
    Fixture {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime"),
        jwt: JwtAuthorizer::new(
            Box::new(["https://idp.example.test/".to_string()]),
            Box::new(["orders-api".into()]),
            true,
            60,
            Box::new([Arc::clone(&keys)]),
        ),
        _registry: registry,
        _dir: dir,
    }
});

const ARNS: &[&str] = &[
    "arn:aws:execute-api:local:000000000000:shop/prod/GET/orders/1",
    "arn:aws:execute-api:local:000000000000:shop/prod/POST/",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let f = &*FIXTURE;
    if selector % 2 == 0 {
        let status = [200, 200, 500, 404][usize::from(selector / 2) % 4];
        let flagged = selector & 0x80 != 0;
        if let Ok(d) = function_decision(status, flagged, rest) {
            for arn in ARNS {
                let _ = d.policy.evaluate(arn);
            }
            // The answer's own text as an ARN: patterns against patterns.
            let _ = d.policy.evaluate(&String::from_utf8_lossy(rest));
        }
    } else {
        let token = String::from_utf8_lossy(rest);
        let verdict = f.rt.block_on(verify_jwt(&f.jwt, &token));
        assert!(verdict.is_err(), "a token the fuzzer made was accepted: {token:?}");
    }
});
