//! OpenAPI with API Gateway's extensions (DESIGN.md 10), beside the data flow like `release`:
//! `import` turns an AWS definition into a draft `apis/NAME.yaml` that `config` then reads like
//! any other; `export` gives back what a stage serves. Pure: files are read here, but written
//! by the commands that own the directory's lock.
//!
//! - `read`: one file into an ordered [`doc::Node`] tree, or one error naming file and line.
//! - `map`: `--map FROM=TO` and what becomes of values that have no local meaning.
//! - `import` (with `security`): a document into a draft's tree, with warnings.
//! - `export`: a deployment's tree into a document in the shape of AWS's `get-export`.

pub mod doc;
pub mod export;
pub mod import;
pub mod map;
pub mod read;
pub mod security;

pub use doc::{JsonPath, Node};
pub use read::{read, Document, ReadError, Version};
