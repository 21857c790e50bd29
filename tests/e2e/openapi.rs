//! `stagecraft import` as a user coming from AWS runs it: AWS's PetStore sample
//! (tests/data/openapi) imported with its `${uri}` mapped to a real backend, deployed and
//! served by a running gateway; and the refusals that write nothing.

use crate::common;

use common::{
    eventually, get_with, run_cli, try_get, Backend, Client, ConfigDir, Gateway, DEADLINE,
};
use hyper::Method;
use serde_json::Value;

const PETSTORE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/openapi/petstore-swagger.json"
);

/// Deploys the draft `api` to stage `local` and waits until the gateway serves its `/pets`.
async fn deploy_local(dir: &ConfigDir, gw: &Gateway, api: &str) -> std::net::SocketAddr {
    let (code, _, err) = run_cli(dir.path(), &["deploy", "--api", api, "--stage", "local"]);
    assert_eq!(code, 0, "{err}");
    let addr = gw.addr();
    eventually("the imported API is served", DEADLINE, || async move {
        try_get(addr, "/local/pets")
            .await
            .is_some_and(|r| r.status == 200)
    })
    .await;
    addr
}

#[tokio::test]
async fn the_petstore_sample_imports_deploys_and_serves() {
    let be = Backend::start("pets").await;
    let dir = ConfigDir::new();
    let gw = Gateway::start(&dir).await;
    let map = format!("${{uri}}=http://{}/petstore/pets", be.addr());
    let (code, out, err) = run_cli(
        dir.path(),
        &["import", PETSTORE, "--api", "petstore", "--map", &map],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("6 routes, 6 models"), "{out}");
    assert!(
        err.contains("$['x-amazon-apigateway-documentation']"),
        "the dropped documentation is named: {err}"
    );
    let addr = deploy_local(&dir, &gw, "petstore").await;

    let echo = |body: &[u8]| serde_json::from_slice::<Value>(body).unwrap();
    let r = get_with(addr, Method::GET, "/local/pets?type=dog&page=2", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let seen = echo(&r.body);
    assert_eq!(seen["path"], "/petstore/pets");
    let query = seen["query"].as_str().unwrap();
    assert!(
        query.contains("type=dog") && query.contains("page=2"),
        "{query}"
    );

    let seen = echo(&get_with(addr, Method::GET, "/local/pets/7", &[]).await.body);
    assert_eq!(seen["path"], "/petstore/pets/7");

    let mut c = Client::connect(addr).await;
    let r = c
        .request(
            Method::POST,
            "/local/pets",
            &[("content-type", "application/json")],
            r#"{"type": "cat", "price": 123.11}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let seen = echo(&r.body);
    assert_eq!(
        (seen["method"].as_str(), seen["path"].as_str()),
        (Some("POST"), Some("/petstore/pets"))
    );

    // The `GET /` mock answers its HTML template, with the stage in its links.
    let r = get_with(addr, Method::GET, "/local/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "text/html");
    let html = String::from_utf8_lossy(&r.body);
    assert!(html.contains(r#"href="/local/pets/""#), "{html}");

    // The CORS preflight mocks.
    let r = get_with(addr, Method::OPTIONS, "/local/pets", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["access-control-allow-methods"],
        "POST,GET,OPTIONS"
    );
    let r = get_with(addr, Method::OPTIONS, "/local/pets/7", &[]).await;
    assert_eq!(r.headers["access-control-allow-methods"], "GET,OPTIONS");
    assert_eq!(
        r.headers["access-control-allow-headers"],
        "Content-Type,X-Amz-Date,Authorization,X-Api-Key"
    );

    // What the stage serves, exported and imported again, is the same API.
    let (code, exported, err) = run_cli(
        dir.path(),
        &["export", "--stage", "local", "--extensions", "apigateway"],
    );
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(
        doc["servers"][0]["variables"]["basePath"]["default"],
        "local"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &exported).unwrap();
    let (code, _, err) = run_cli(
        dir.path(),
        &["import", file.path().to_str().unwrap(), "--api", "again"],
    );
    assert_eq!(code, 0, "{err}");
    let routes = |api: &str| {
        let text = std::fs::read_to_string(dir.path().join(format!("apis/{api}.yaml"))).unwrap();
        let draft: Value = serde_saphyr::from_str(&text).unwrap();
        draft["routes"].clone()
    };
    assert_eq!(routes("again"), routes("petstore"));
}

/// A file that is not OpenAPI, or an existing draft without --force: one error, nothing written.
#[tokio::test]
async fn refusals_write_nothing() {
    let dir = ConfigDir::new();
    let _gw = Gateway::start(&dir).await;
    let bad = dir
        .path()
        .join("..")
        .join(format!("stagecraft-bad-{}.yaml", std::process::id()));
    std::fs::write(&bad, "swagger: '2.0'\npaths:\n  /a: [\n").unwrap();
    let bad_arg = bad.to_str().unwrap();
    let (code, _, err) = run_cli(dir.path(), &["import", bad_arg, "--api", "x"]);
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{bad_arg}:")) && err.contains("invalid YAML"),
        "{err}"
    );
    assert!(!dir.path().join("apis/x.yaml").exists());

    let (code, _, err) = run_cli(dir.path(), &["import", PETSTORE, "--api", "p"]);
    assert_eq!(code, 0, "{err}");
    let first = std::fs::read_to_string(dir.path().join("apis/p.yaml")).unwrap();
    assert!(first.contains("${stageVariables.uri}"), "unmapped: {first}");
    let mapped = |extra: &[&str]| {
        let mut args = vec![
            "import",
            PETSTORE,
            "--api",
            "p",
            "--map",
            "${uri}=http://127.0.0.1:9/p",
        ];
        args.extend_from_slice(extra);
        run_cli(dir.path(), &args)
    };
    let (code, _, err) = mapped(&[]);
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("apis/p.yaml")).unwrap(),
        first
    );
    let (code, _, err) = mapped(&["--force"]);
    assert_eq!(code, 0, "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("apis"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(leftovers, ["p.yaml"], "no temporary file is left");
}

/// LocalStack's `pets.json`, which AWS imported and exported in the recordings of
/// tests/data/openapi: its uri names `{id}`, which no route captures and a request parameter
/// fills from `petId`, as AWS allows. Imported as written, served, exported as AWS exported it.
#[tokio::test]
async fn a_uri_placeholder_filled_by_a_request_parameter_is_served() {
    let be = Backend::start("pets").await;
    let dir = ConfigDir::new();
    let gw = Gateway::start(&dir).await;
    let pets = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/openapi/pets.json");
    let map = format!(
        "http://petstore-demo-endpoint.execute-api.com=http://{}",
        be.addr()
    );
    let (code, _, err) = run_cli(
        dir.path(),
        &["import", pets, "--api", "pets", "--map", &map],
    );
    assert_eq!(code, 0, "{err}");
    let draft: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(dir.path().join("apis/pets.yaml")).unwrap(),
    )
    .unwrap();
    // What replaces AWS's binary media types: the definition's, as put-rest-api's overwrite.
    assert_eq!(
        draft["binary_media_types"],
        serde_json::json!(["image/png", "image/jpg"])
    );
    let addr = deploy_local(&dir, &gw, "pets").await;
    let r = get_with(addr, Method::GET, "/local/pets/42", &[]).await;
    assert_eq!(r.status, 200);
    let seen: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(seen["path"], "/petstore/pets/42");

    let (code, exported, err) = run_cli(
        dir.path(),
        &[
            "export",
            "--stage",
            "local",
            "--format",
            "swagger",
            "--extensions",
            "apigateway",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&exported).unwrap();
    let i = &doc["paths"]["/pets/{petId}"]["get"]["x-amazon-apigateway-integration"];
    assert_eq!(
        i["uri"],
        format!("http://{}/petstore/pets/{{id}}", be.addr())
    );
    assert_eq!(
        i["requestParameters"]["integration.request.path.id"],
        "method.request.path.petId"
    );
    assert_eq!(doc["info"]["title"], "Simple PetStore (Swagger)");
    assert_eq!(doc["basePath"], "/local");
}
