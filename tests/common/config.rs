//! The configuration directory a test gateway serves, and small YAML builders for it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tempfile::TempDir;

/// YAML double-quoted scalar. A JSON string is a valid YAML double-quoted scalar, so this
/// escapes whatever a test throws at it.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string to json")
}

/// One entry of `backends:` in gateway.yaml.
#[derive(Clone, Debug)]
pub struct BackendSpec {
    name: String,
    versions: Vec<(String, Vec<SocketAddr>)>,
    aliases: Vec<(String, Vec<(String, i64)>)>,
    sticky: Option<String>,
}

impl BackendSpec {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            versions: Vec::new(),
            aliases: Vec::new(),
            sticky: None,
        }
    }

    /// `sticky: "header:NAME"` or `"cookie:NAME"`: every alias picks by a hash of that value.
    pub fn sticky(mut self, key: &str) -> Self {
        self.sticky = Some(key.to_string());
        self
    }

    pub fn version(mut self, name: &str, targets: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.versions
            .push((name.to_string(), targets.into_iter().collect()));
        self
    }

    pub fn alias<'a>(
        mut self,
        name: &str,
        weights: impl IntoIterator<Item = (&'a str, i64)>,
    ) -> Self {
        let weights = weights
            .into_iter()
            .map(|(v, w)| (v.to_string(), w))
            .collect();
        self.aliases.push((name.to_string(), weights));
        self
    }

    /// `NAME: {versions: {...}, aliases: {...}}` on one line (YAML flow style).
    fn yaml(&self) -> String {
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(v, targets)| {
                let t: Vec<String> = targets.iter().map(|a| q(&a.to_string())).collect();
                format!("{}: {{targets: [{}]}}", q(v), t.join(", "))
            })
            .collect();
        let aliases: Vec<String> = self
            .aliases
            .iter()
            .map(|(a, weights)| {
                let w: Vec<String> = weights
                    .iter()
                    .map(|(v, w)| format!("{}: {w}", q(v)))
                    .collect();
                format!("{}: {{{}}}", q(a), w.join(", "))
            })
            .collect();
        let mut out = format!("{}: {{versions: {{{}}}", q(&self.name), versions.join(", "));
        if !aliases.is_empty() {
            write!(out, ", aliases: {{{}}}", aliases.join(", ")).expect("write to string");
        }
        if let Some(s) = &self.sticky {
            write!(out, ", sticky: {}", q(s)).expect("write to string");
        }
        out.push('}');
        out
    }
}

/// A `stages/NAME.yaml` file.
#[derive(Clone, Debug)]
pub struct Stage {
    api: String,
    deployment: String,
    base_path: Option<String>,
    host: Option<String>,
    variables: Vec<(String, String)>,
}

impl Stage {
    pub fn new(api: &str, deployment: &str) -> Self {
        Self {
            api: api.to_string(),
            deployment: deployment.to_string(),
            base_path: None,
            host: None,
            variables: Vec::new(),
        }
    }

    pub fn base_path(mut self, base_path: &str) -> Self {
        self.base_path = Some(base_path.to_string());
        self
    }

    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.variables.push((name.to_string(), value.to_string()));
        self
    }

    pub fn yaml(&self) -> String {
        let mut out = format!(
            "api: {}\ndeployment: {}\n",
            q(&self.api),
            q(&self.deployment)
        );
        if let Some(b) = &self.base_path {
            writeln!(out, "base_path: {}", q(b)).expect("write to string");
        }
        if let Some(h) = &self.host {
            writeln!(out, "host: {}", q(h)).expect("write to string");
        }
        if !self.variables.is_empty() {
            out.push_str("variables:\n");
            for (k, v) in &self.variables {
                writeln!(out, "  {}: {}", q(k), q(v)).expect("write to string");
            }
        }
        out
    }
}

/// A `deployments/ID.yaml` file whose routes are all `http_proxy` integrations.
#[derive(Clone, Debug)]
pub struct Deployment {
    api: String,
    routes: Vec<(String, String)>,
}

impl Deployment {
    pub fn new(api: &str) -> Self {
        Self {
            api: api.to_string(),
            routes: Vec::new(),
        }
    }

    /// Adds `route` (e.g. `"GET /orders/{id}"`) proxied to `uri`.
    pub fn proxy(mut self, route: &str, uri: &str) -> Self {
        self.routes.push((route.to_string(), uri.to_string()));
        self
    }

    /// A deployment that sends everything below the stage to `backend`, path unchanged:
    /// `ANY /` and `ANY /{proxy+}`.
    pub fn catch_all(api: &str, backend: SocketAddr) -> Self {
        Self::new(api)
            .proxy("ANY /", &format!("http://{backend}/"))
            .proxy("ANY /{proxy+}", &format!("http://{backend}/{{proxy}}"))
    }

    pub fn yaml(&self) -> String {
        let mut out = format!("api: {}\nroutes:\n", q(&self.api));
        for (route, uri) in &self.routes {
            writeln!(
                out,
                "  - route: {}\n    integration:\n      type: http_proxy\n      uri: {}",
                q(route),
                q(uri)
            )
            .expect("write to string");
        }
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Real files and folders directly in DIR.
    Plain,
    /// Kubernetes ConfigMap volume: DIR/..2026_N/ holds the files, DIR/..data links to the
    /// current one, and DIR/gateway.yaml, DIR/stages, ... link through ..data.
    ConfigMap,
}

#[derive(Default)]
struct State {
    /// (listen port, admin port) once a gateway has been started on this directory.
    ports: Option<(u16, u16)>,
    backends: Vec<BackendSpec>,
    /// ConfigMap layout: the files of the next published version (relative path -> content).
    staged: BTreeMap<String, String>,
    /// ConfigMap layout: number of versions published so far.
    versions: u32,
    /// `limits:` of gateway.yaml, in the order set (none: the gateway's defaults).
    limits: Vec<(String, u64)>,
    /// Other top-level keys of gateway.yaml (`shutdown_grace_seconds`, `upgrade_sock`, ...),
    /// as rendered YAML scalars, in the order set.
    settings: Vec<(String, String)>,
    /// Environment variables of gateways started on this directory.
    env: Vec<(String, String)>,
}

/// A temporary configuration directory.
///
/// `gateway.yaml` is rendered from the ports chosen by [`crate::common::Gateway::start`]
/// and the backends set with [`ConfigDir::set_backends`]; other files are written by the test.
pub struct ConfigDir {
    dir: TempDir,
    layout: Layout,
    state: Mutex<State>,
}

impl ConfigDir {
    /// Plain layout with empty `stages/` and `deployments/` folders.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("stagecraft-config-")
            .tempdir()
            .expect("create temp config dir");
        std::fs::create_dir_all(dir.path().join("stages")).expect("mkdir stages");
        std::fs::create_dir_all(dir.path().join("deployments")).expect("mkdir deployments");
        Self {
            dir,
            layout: Layout::Plain,
            state: Mutex::new(State::default()),
        }
    }

    /// Kubernetes ConfigMap layout. Writes only stage files until [`ConfigDir::publish`]
    /// swaps them in as a whole, like the kubelet does.
    pub fn configmap() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("stagecraft-configmap-")
            .tempdir()
            .expect("create temp config dir");
        Self {
            dir,
            layout: Layout::ConfigMap,
            state: Mutex::new(State::default()),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn abs(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn assert_plain(&self, what: &str) {
        assert_eq!(self.layout, Layout::Plain, "{what} needs the plain layout");
    }

    /// Writes `rel` in place (truncate + write on the same inode), as `echo > file` or an
    /// editor without atomic save does. ConfigMap layout: stages the file for `publish`.
    pub fn write(&self, rel: &str, content: &str) {
        if self.layout == Layout::ConfigMap {
            let mut st = self.state.lock().unwrap();
            st.staged.insert(rel.to_string(), content.to_string());
            return;
        }
        let path = self.abs(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir parent");
        }
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Writes `rel` atomically: a temporary file in the same folder, then rename over `rel`
    /// (what vim, most editors and `stagecraft deploy` do).
    pub fn write_renamed(&self, rel: &str, content: &str) {
        self.assert_plain("write_renamed");
        let path = self.abs(rel);
        let parent = path.parent().expect("file has a parent folder");
        std::fs::create_dir_all(parent).expect("mkdir parent");
        let name = path.file_name().expect("file name").to_string_lossy();
        let tmp = parent.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, content).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        std::fs::rename(&tmp, &path)
            .unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
    }

    /// Deletes `rel` then creates it anew (a different inode; some tools save this way).
    pub fn recreate(&self, rel: &str, content: &str) {
        self.assert_plain("recreate");
        self.remove(rel);
        self.write(rel, content);
    }

    pub fn remove(&self, rel: &str) {
        self.assert_plain("remove");
        let path = self.abs(rel);
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }

    /// Writes `stages/NAME.yaml` in place.
    pub fn put_stage(&self, name: &str, stage: &Stage) {
        self.write(&Self::stage_file(name), &stage.yaml());
    }

    /// Writes `deployments/ID.yaml` in place.
    pub fn put_deployment(&self, id: &str, deployment: &Deployment) {
        self.write(&Self::deployment_file(id), &deployment.yaml());
    }

    pub fn stage_file(name: &str) -> String {
        format!("stages/{name}.yaml")
    }

    pub fn deployment_file(id: &str) -> String {
        format!("deployments/{id}.yaml")
    }

    /// Sets the `backends:` of gateway.yaml. Once a gateway runs on this directory the file
    /// is rewritten atomically (plain layout) or staged (ConfigMap layout).
    pub fn set_backends(&self, backends: &[BackendSpec]) {
        let ports = {
            let mut st = self.state.lock().unwrap();
            st.backends = backends.to_vec();
            st.ports
        };
        if let Some((listen, admin)) = ports {
            let yaml = self.gateway_yaml(listen, admin);
            match self.layout {
                Layout::Plain => self.write_renamed("gateway.yaml", &yaml),
                Layout::ConfigMap => self.write("gateway.yaml", &yaml),
            }
        }
    }

    fn gateway_yaml(&self, listen: u16, admin: u16) -> String {
        let st = self.state.lock().unwrap();
        let mut out =
            format!("listen: [\"127.0.0.1:{listen}\"]\nadmin: \"127.0.0.1:{admin}\"\nthreads: 2\n");
        for (k, v) in &st.settings {
            writeln!(out, "{}: {v}", q(k)).expect("write to string");
        }
        if !st.limits.is_empty() {
            out.push_str("limits:\n");
            for (k, v) in &st.limits {
                writeln!(out, "  {}: {v}", q(k)).expect("write to string");
            }
        }
        if !st.backends.is_empty() {
            out.push_str("backends:\n");
            for b in &st.backends {
                writeln!(out, "  {}", b.yaml()).expect("write to string");
            }
        }
        out
    }

    /// Renders gateway.yaml for these ports. Called by `Gateway::start` before each attempt.
    /// ConfigMap layout: also publishes everything staged so far.
    pub(crate) fn write_gateway(&self, listen: u16, admin: u16) {
        self.state.lock().unwrap().ports = Some((listen, admin));
        let yaml = self.gateway_yaml(listen, admin);
        match self.layout {
            Layout::Plain => self.write_renamed("gateway.yaml", &yaml),
            Layout::ConfigMap => {
                self.write("gateway.yaml", &yaml);
                self.publish();
            }
        }
    }

    /// ConfigMap layout: publishes the staged files the way the kubelet updates a volume:
    /// write `..2026_N/`, point a new `..data_tmp` symlink at it, rename it over `..data`
    /// (the atomic step), create the top-level symlinks if missing, delete the old version.
    pub fn publish(&self) {
        assert_eq!(
            self.layout,
            Layout::ConfigMap,
            "publish needs the ConfigMap layout"
        );
        let root = self.dir.path();
        let (files, n) = {
            let mut st = self.state.lock().unwrap();
            st.versions += 1;
            (st.staged.clone(), st.versions)
        };
        let version = format!("..2026_{n}");
        let vdir = root.join(&version);
        // Stages and deployments always exist, even when empty, so their links never dangle.
        std::fs::create_dir_all(vdir.join("stages")).expect("mkdir version/stages");
        std::fs::create_dir_all(vdir.join("deployments")).expect("mkdir version/deployments");
        for (rel, content) in &files {
            let path = vdir.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, content).expect("write version file");
        }
        let tmp_link = root.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &tmp_link).expect("symlink ..data_tmp");
        std::fs::rename(&tmp_link, root.join("..data")).expect("rename ..data_tmp over ..data");

        let mut top: Vec<String> = vec!["stages".into(), "deployments".into()];
        for rel in files.keys() {
            let first = rel.split('/').next().expect("non-empty path").to_string();
            if !top.contains(&first) {
                top.push(first);
            }
        }
        for entry in top {
            let link = root.join(&entry);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{entry}"), &link)
                    .expect("symlink top-level entry");
            }
        }
        if n > 1 {
            let old = root.join(format!("..2026_{}", n - 1));
            std::fs::remove_dir_all(&old).expect("remove previous version dir");
        }
    }
}

impl ConfigDir {
    /// Sets one entry of `limits:` in gateway.yaml (`max_body_bytes`, `integration_timeout_ms`).
    /// Takes effect when `Gateway::start` writes gateway.yaml; call it before.
    pub fn set_limit(&self, key: &str, value: u64) {
        let mut st = self.state.lock().unwrap();
        st.limits.retain(|(k, _)| k != key);
        st.limits.push((key.to_string(), value));
    }
}

impl ConfigDir {
    /// Sets a top-level key of gateway.yaml (`shutdown_grace_seconds: 10`,
    /// `upgrade_sock: "/tmp/x.sock"`); the value is written as a JSON scalar, which YAML reads.
    /// Takes effect when `Gateway::start` writes gateway.yaml; call it before.
    pub fn set_gateway_key(&self, key: &str, value: impl Into<serde_json::Value>) {
        let value = value.into().to_string();
        let mut st = self.state.lock().unwrap();
        st.settings.retain(|(k, _)| k != key);
        st.settings.push((key.to_string(), value));
    }
}

impl ConfigDir {
    /// Sets an environment variable for gateways started on this directory from now on.
    pub fn set_env(&self, key: &str, value: &str) {
        let mut st = self.state.lock().unwrap();
        st.env.retain(|(k, _)| k != key);
        st.env.push((key.to_string(), value.to_string()));
    }

    pub fn env(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().env.clone()
    }
}

impl Default for ConfigDir {
    fn default() -> Self {
        Self::new()
    }
}
