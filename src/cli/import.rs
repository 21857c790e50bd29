//! Part of `cli`, beside the data flow: `stagecraft import`: an OpenAPI definition with API
//! Gateway's extensions into the draft `apis/API.yaml` (`openapi` converts, `release` writes).
//! Every warning goes to stderr with the JSON path it is about; stdout says what was written.

use super::{emit, failed, warn, ConfigArg};
use crate::openapi::import::{convert, BasePath};
use crate::openapi::map::{parse_map_arg, Mapper};
use crate::openapi::Node;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BasePathArg {
    /// Routes are the paths as written.
    Ignore,
    /// The base path goes in front of every path.
    Prepend,
    /// The base path without its first segment goes in front of every path.
    Split,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Swagger 2.0 or OpenAPI 3.0, JSON or YAML, with x-amazon-apigateway-* extensions.
    pub file: PathBuf,
    /// The API to write: its draft is apis/API.yaml.
    #[arg(long, value_name = "API")]
    pub api: String,
    /// Rewrite a value the definition points at (a Lambda ARN, a ${placeholder}) to a local
    /// URI: `--map 'arn:aws:lambda:...:function:orders=backend://orders'`. Repeatable.
    #[arg(long = "map", value_name = "FROM=TO")]
    pub maps: Vec<String>,
    /// What the definition's base path does to the routes (as AWS's basepath import option).
    #[arg(long, value_enum, default_value = "ignore")]
    pub base_path: BasePathArg,
    /// Replace apis/API.yaml when it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: &Args) -> ExitCode {
    let mut maps = Vec::new();
    for m in &a.maps {
        match parse_map_arg(m) {
            Ok(pair) => maps.push(pair),
            Err(e) => {
                eprintln!("stagecraft import: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let doc = match crate::openapi::read(&a.file) {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("stagecraft import: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base_path = match a.base_path {
        BasePathArg::Ignore => BasePath::Ignore,
        BasePathArg::Prepend => BasePath::Prepend,
        BasePathArg::Split => BasePath::Split,
    };
    let mut mapper = Mapper::new(maps);
    let imported = convert(&doc, base_path, &mut mapper);
    let body = match serde_saphyr::to_string(&imported.draft) {
        Ok(y) => y,
        Err(e) => {
            eprintln!("stagecraft import: cannot write the draft as YAML: {e}");
            return ExitCode::FAILURE;
        }
    };
    let source = a.file.display();
    let text = format!(
        "# Imported by `stagecraft import` from {source}: a draft; nothing here is served until\n\
         # `stagecraft deploy`. Edit freely; importing again with --force replaces this file.\n{body}"
    );
    let problems = match crate::release::write_draft(&a.config.dir, &a.api, &text, a.force) {
        Ok(p) => p,
        Err(e) => return failed("import", &e),
    };
    for w in &imported.warnings {
        eprintln!("warning: {source}: {}: {}", w.path, w.message);
    }
    for from in mapper.unused() {
        eprintln!("warning: --map {from:?} matched nothing in {source}");
    }
    warn(&problems);
    let count = |key: &str| imported.draft.get(key).map_or(0, Node::size);
    let warnings = imported.warnings.len() + mapper.unused().count();
    let mut summary = format!(
        "wrote apis/{}.yaml: {} routes, {} models, {} authorizers; {warnings} warning{}\n",
        a.api,
        count("routes"),
        count("models"),
        count("authorizers"),
        if warnings == 1 { "" } else { "s" }
    );
    if let Some(b) = &imported.base_path {
        summary.push_str(&format!(
            "the definition's base path is {b}: a stage serving it there has `base_path: {b}`\n"
        ));
    }
    emit(&summary)
}
