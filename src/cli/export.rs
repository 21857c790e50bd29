//! Part of `cli`, beside the data flow: `stagecraft export`: what a stage serves as OpenAPI, in
//! the shape of AWS's `get-export`, on stdout (JSON, or YAML with `--yaml`); notes about what has
//! no OpenAPI form go to stderr. Nothing is written.

use super::{emit, ConfigArg};
use crate::config::{self, Scope, DEPLOYMENTS_DIR};
use crate::openapi::export::{export, Format, Source};
use crate::openapi::Node;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Oas30,
    Swagger,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExtensionsArg {
    /// API Gateway's x-amazon-apigateway-* extensions: integrations, validators, authorizers.
    Apigateway,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The stage whose deployment is exported (not its canary).
    #[arg(long, value_name = "STAGE")]
    pub stage: String,
    #[arg(long, value_enum, default_value = "oas30")]
    pub format: FormatArg,
    /// Include API Gateway's extensions (`import` needs them to rebuild the integrations).
    #[arg(long, value_enum)]
    pub extensions: Option<ExtensionsArg>,
    /// YAML instead of JSON.
    #[arg(long)]
    pub yaml: bool,
}

pub fn run(a: &Args) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("stagecraft export: {msg}");
        ExitCode::FAILURE
    };
    let dir = &a.config.dir;
    let raw = match config::read_sources(dir, Scope::Served)
        .and_then(|sources| config::parse_sources(&sources))
    {
        Ok(raw) => raw,
        Err(problems) => return fail(format!("cannot read {}:\n{problems}", dir.display())),
    };
    let Some(stage) = raw.stages.get(&a.stage) else {
        return fail(format!("no stage {:?} (stages/{}.yaml)", a.stage, a.stage));
    };
    let id = &stage.deployment.value;
    let rel = format!("{DEPLOYMENTS_DIR}/{id}.yaml");
    let tree: Node = match std::fs::read_to_string(dir.join(&rel))
        .map_err(|e| e.to_string())
        .and_then(|t| serde_saphyr::from_str(&t).map_err(|e| config::yaml_message(&e)))
    {
        Ok(t) => t,
        Err(e) => return fail(format!("{rel}: {e}")),
    };
    let base_path = stage
        .base_path
        .as_ref()
        .map_or_else(|| format!("/{}", a.stage), |b| b.value.clone());
    let src = Source {
        api: &stage.api.value,
        deployment_id: id,
        deployment: &tree,
        base_path: &base_path,
        host: stage.host.as_ref().map(|h| h.value.as_str()),
    };
    let format = match a.format {
        FormatArg::Oas30 => Format::Oas30,
        FormatArg::Swagger => Format::Swagger,
    };
    let out = export(&src, format, a.extensions.is_some());
    for n in &out.notes {
        eprintln!("note: {n}");
    }
    let text = if a.yaml {
        serde_saphyr::to_string(&out.document).map_err(|e| e.to_string())
    } else {
        serde_json::to_string_pretty(&out.document)
            .map(|t| t + "\n")
            .map_err(|e| e.to_string())
    };
    match text {
        Ok(t) => emit(&t),
        Err(e) => fail(format!("cannot write the document: {e}")),
    }
}
