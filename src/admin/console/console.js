// The stagecraft console: a page over the admin JSON API (/api/), with fetch and nothing else.
// Routes are the URL's hash (#/, #/stage/NAME, #/deployment/ID, #/deployments, #/keys,
// #/gateway). Pages redraw every second from the API; what the operator is typing, a slider
// being moved and a text selection survive the redraw. A write asks for the token first, asks
// for confirmation where it changes what is served beyond the obvious, and shows its outcome
// with the CLI command that does the same.
"use strict";

const view = document.getElementById("view");
const TOKEN_KEY = "stagecraft-admin-token";
let timer = null;
let renderId = 0;
// The canary share the operator moved the slider to and has not applied yet, with the canary it
// belongs to (a value for another canary, or for none, is dropped).
let pendingShare = null;
let pointerDown = false;

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function pct(x) {
  return (Math.round(x * 1000) / 10).toFixed(1) + "%";
}

function rps(x) {
  return (Math.round(x * 10) / 10).toFixed(1);
}

// 2026-11-24T12:00:00Z -> 2026-11-24 12:00:00Z, kept on one line.
function when(t) {
  return t ? `<span class="when">${esc(String(t).replace("T", " "))}</span>` : "";
}

function vars(v) {
  const e = Object.entries(v || {});
  return e.length ? e.map(([k, x]) => `<code>${esc(k)}=${esc(x)}</code>`).join(" ") : `<span class="muted">none</span>`;
}

async function get(path) {
  const r = await fetch("/api/" + path, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) {
    const e = new Error([body.message || r.statusText, ...(body.problems || [])].join("\n"));
    e.status = r.status;
    throw e;
  }
  return body;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function showToken() {
  document.getElementById("token-button").textContent = token() ? "Token: set" : "Token: none";
}

function askToken() {
  return new Promise((resolve) => {
    const d = document.getElementById("token-dialog");
    const input = document.getElementById("token-input");
    input.value = "";
    d.addEventListener("close", function done() {
      d.removeEventListener("close", done);
      if (d.returnValue === "save" && input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
      if (d.returnValue === "forget") sessionStorage.removeItem(TOKEN_KEY);
      showToken();
      resolve(d.returnValue === "save" ? token() : null);
    });
    d.showModal();
    input.focus();
  });
}

function lastAction(ok, text, cli, details) {
  const box = document.getElementById("last-action");
  box.hidden = false;
  box.dataset.status = ok ? "ok" : "error";
  document.getElementById("last-action-result").textContent = text;
  box.scrollIntoView({ block: "nearest" });
  document.getElementById("last-action-cli").textContent = cli || "";
  document.getElementById("last-action-cli-line").hidden = !cli;
  const more = document.getElementById("last-action-details");
  more.hidden = !details.length;
  more.open = false;
  more.querySelector("summary").textContent = details.length + " warning" + (details.length === 1 ? "" : "s") +
    " about the configuration";
  more.querySelector("pre").textContent = details.join("\n");
}

// A write: asks for the token when there is none (and once more on 401), shows the outcome and
// the CLI command that does the same, then redraws the page.
async function write(method, path, body, what) {
  let t = token() || (await askToken());
  if (!t) {
    lastAction(false, what + ": not sent, a write needs a token", "", []);
    return null;
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await fetch("/api/" + path, {
      method,
      headers: { "content-type": "application/json", authorization: "Bearer " + t },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await r.json();
    if (r.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showToken();
      if (attempt === 0) {
        document.getElementById("token-why").textContent = "That token was refused (401): try another.";
        t = await askToken();
        document.getElementById("token-why").textContent = "";
        if (t) continue;
      }
    }
    // What refused the write is shown; warnings that came with it are folded away.
    const problems = (answer.problems || []).map((p) => "\n" + p).join("");
    lastAction(
      r.ok,
      (r.ok ? what + ": done" : what + ": refused (" + r.status + "): " + answer.message) + problems,
      answer.cli,
      answer.warnings || [],
    );
    route();
    return r.ok ? answer : null;
  }
  return null;
}

function splitBar(sides, canaryPercent) {
  const base = sides.base ? sides.base.share : 0;
  const canary = sides.canary ? sides.canary.share : 0;
  const total = (sides.base ? sides.base.requests_per_second : 0) +
    (sides.canary ? sides.canary.requests_per_second : 0);
  if (total === 0) {
    return `<div class="split idle" data-testid="split">no traffic in the last 10 s` +
      (canaryPercent !== undefined ? ` (canary set to ${esc(canaryPercent)}%)` : "") + `</div>`;
  }
  // A label that would not fit its part is left to the part's tooltip.
  const room = window.innerWidth < 640 ? 0.35 : 0.15;
  const label = (name, share, id) => share >= room
    ? `${name} <b id="${id}">${pct(share)}</b>` : `<b id="${id}" class="narrow">${pct(share)}</b>`;
  return `<div class="split" data-testid="split" data-canary-share="${canary.toFixed(4)}">
      <span class="base" style="width:${base * 100}%" title="base ${pct(base)}">${label("base", base, "split-base")}</span>
      <span class="canary" style="width:${canary * 100}%" title="canary ${pct(canary)}">${label("canary", canary, "split-canary")}</span>
    </div>`;
}

function versionsList(t) {
  if (!t || !Object.keys(t.versions).length) return `<span class="muted">no traffic</span>`;
  return Object.entries(t.versions)
    .map(([v, r]) => `<span class="pill" data-version="${esc(v)}">${v ? esc(v) : "no version"} ${rps(r.requests_per_second)}/s</span>`)
    .join(" ");
}

// Replaces the page, keeping what the operator is in the middle of: typed values, focus, the
// slider they moved, the scroll position.
function draw(html) {
  const samePage = view.dataset.page === location.hash;
  view.dataset.page = location.hash;
  const kept = {};
  if (samePage) for (const e of view.querySelectorAll("[data-keep]")) kept[e.id] = e.value;
  const scrolled = {};
  if (samePage) for (const e of view.querySelectorAll(".table-wrap")) scrolled[e.querySelector("table")?.id] = e.scrollLeft;
  const active = document.activeElement && view.contains(document.activeElement) ? document.activeElement : null;
  const focused = active ? active.id : null;
  let caret = null;
  try {
    if (active && active.selectionStart !== null) caret = [active.selectionStart, active.selectionEnd];
  } catch (_) { /* inputs without a caret (range, number) */ }
  view.innerHTML = html;
  for (const [id, value] of Object.entries(kept)) {
    const e = document.getElementById(id);
    if (e && e.hasAttribute("data-keep")) e.value = value;
  }
  for (const e of view.querySelectorAll(".table-wrap")) {
    const left = scrolled[e.querySelector("table")?.id];
    if (left) e.scrollLeft = left;
  }
  if (focused) {
    const e = document.getElementById(focused);
    if (e) {
      e.focus();
      if (caret) try { e.setSelectionRange(caret[0], caret[1]); } catch (_) { /* no caret */ }
    }
  }
}

async function overview(id) {
  const [stages, traffic] = await Promise.all([get("stages"), get("traffic?window=10")]);
  if (id !== renderId) return;
  const byStage = Object.fromEntries(traffic.stages.map((s) => [s.stage, s]));
  draw(`<h1>Stages</h1>
    <div class="table-wrap"><table id="stages"><thead><tr>
      <th>Stage</th><th>API</th><th>Deployment</th><th>Canary</th><th>Variables</th>
      <th>Requests/s by version</th><th>Errors</th></tr></thead><tbody>
    ${stages.map((s) => {
      if (s.error) {
        return `<tr data-stage="${esc(s.name)}" class="broken"><td><a href="#/stage/${esc(s.name)}">${esc(s.name)}</a></td>
          <td colspan="6"><pre class="error">${esc(s.error)}</pre></td></tr>`;
      }
      const t = byStage[s.name];
      return `<tr data-stage="${esc(s.name)}">
        <td><a href="#/stage/${esc(s.name)}">${esc(s.name)}</a><div class="muted">${esc(s.base_path)}</div></td>
        <td>${esc(s.api)}</td>
        <td><a href="#/deployment/${esc(s.deployment)}">${esc(s.deployment)}</a></td>
        <td class="canary">${s.canary ? `<a href="#/deployment/${esc(s.canary.deployment)}">${esc(s.canary.deployment)}</a> at ${esc(s.canary.percent)}%` : `<span class="muted">none</span>`}</td>
        <td>${Object.entries(s.variables).map(([k, v]) => `<code>${esc(k)}=${esc(v)}</code>`).join(" ")}</td>
        <td>${versionsList(t)}${t ? `<div class="muted">${rps(t.requests_per_second)}/s in all</div>` : ""}</td>
        <td>${t ? pct(t.error_ratio) + " 5xx" : ""}</td></tr>`;
    }).join("")}
    </tbody></table></div>
    ${stages.length ? "" : `<p class="muted">No stage yet: <code>stagecraft deploy --api NAME --stage NAME</code>.</p>`}`);
}

// The routes that differ between two deployments' route lists (added, removed, changed).
function routeDiff(older, newer) {
  const a = new Map(older.routes.map((r) => [r.route, r]));
  const b = new Map(newer.routes.map((r) => [r.route, r]));
  const traits = (r) => [r.integration, r.uri, r.authorizer && "authorizer " + r.authorizer,
    r.api_key_required && "API key"].filter(Boolean).join(", ");
  const out = [];
  for (const [k, r] of b) {
    if (!a.has(k)) out.push(`+ ${k} (${traits(r)})`);
    else if (JSON.stringify(a.get(k)) !== JSON.stringify(r)) {
      const o = a.get(k);
      const what = ["integration", "uri", "authorizer", "api_key_required"]
        .filter((f) => JSON.stringify(o[f]) !== JSON.stringify(r[f]))
        .map((f) => `${f}: ${o[f] ?? "none"} → ${r[f] ?? "none"}`);
      out.push(`~ ${k}: ${what.join(", ")}`);
    }
  }
  for (const k of a.keys()) if (!b.has(k)) out.push(`- ${k}`);
  return out;
}

// What the gateway serves for the stage, when it is not what the stage's file says (the file
// has not loaded yet, or does not load).
function notServed(s, serving, status) {
  const live = serving.find((x) => x.stage === s.name);
  if (!live) return "the gateway does not serve this stage";
  const diffs = [];
  if (live.deployment !== s.deployment) diffs.push(`deployment ${live.deployment}`);
  if (JSON.stringify(live.variables || {}) !== JSON.stringify(s.variables)) diffs.push(`variables ${Object.entries(live.variables || {}).map(([k, v]) => k + "=" + v).join(" ") || "none"}`);
  const liveCanary = live.canary ? `${live.canary.deployment} at ${live.canary.percent}%` : "none";
  const fileCanary = s.canary ? `${s.canary.deployment} at ${s.canary.percent}%` : "none";
  if (liveCanary !== fileCanary) diffs.push(`canary ${liveCanary}`);
  if (!diffs.length) return null;
  return `the gateway still serves ${diffs.join(", ")}` +
    (status.last_error ? `: the configuration does not load (${status.last_error.message.split("\n")[0]})` : " (reloading)");
}

async function stagePage(id, name) {
  const [s, traffic, deployments, status] = await Promise.all([
    get("stages/" + encodeURIComponent(name)),
    get("traffic?window=10"),
    get("deployments"),
    get("status"),
  ]);
  let draft;
  try {
    draft = await get(`stages/${encodeURIComponent(name)}/diff`);
  } catch (e) {
    draft = { error: e.message };
  }
  if (id !== renderId) return;
  const t = traffic.stages.find((x) => x.stage === name);
  const ofApi = deployments.filter((d) => d.api === s.api);
  const byId = Object.fromEntries(deployments.map((d) => [d.id, d]));
  const history = s.history.slice().reverse();
  const stale = notServed(s, status.serving, status);
  const canaryKey = s.canary ? `${name}/${s.canary.deployment}` : null;
  if (pendingShare && pendingShare.canary !== canaryKey) pendingShare = null;
  const share = pendingShare ? pendingShare.value : s.canary && s.canary.percent;
  const draftChanges = draft.error ? null
    : [...draft.added.map((r) => "+ " + r), ...draft.removed.map((r) => "- " + r),
      ...draft.changed.map((c) => "~ " + c.route + ": " + c.fields.map((f) => f.field).join(", ")),
      ...draft.settings.map((f) => "~ " + f.field)];
  draw(`<h1>Stage ${esc(s.name)} <span class="muted">${esc(s.api)} at ${esc(s.base_path)}</span></h1>
    ${stale ? `<p class="notice" id="not-served">This page shows the stage's file; ${esc(stale)}.</p>` : ""}
    <section class="card"><h2>Traffic (last 10 s)</h2>
      <p>Serving <a href="#/deployment/${esc(s.deployment)}" id="stage-deployment">${esc(s.deployment)}</a>${s.canary ? `, canary <a href="#/deployment/${esc(s.canary.deployment)}" id="stage-canary">${esc(s.canary.deployment)}</a> at <b id="stage-canary-percent">${esc(s.canary.percent)}</b>%` : ""}.</p>
      ${s.canary ? splitBar(t ? t.sides : {}, s.canary.percent) : ""}
      <p>By version: ${versionsList(t)}</p>
      <p>${t ? `${rps(t.requests_per_second)} requests/s, ${pct(t.error_ratio)} 5xx, ${pct(t.client_error_ratio)} 4xx` : ""}</p>
    </section>
    <section class="card"><h2>Canary</h2>
      ${s.canary ? `
        <p>Canary requests use the variables ${vars({ ...s.variables, ...s.canary.variables })}${s.canary.sticky ? `, each client kept on one side by <code>${esc(s.canary.sticky)}</code>` : ""}.
          ${s.canary.deployment === s.deployment ? `<span class="notice">It serves the stage's own deployment: only its variables differ.</span>` : ""}</p>
        <label>Share for ${esc(s.canary.deployment)}:
          <input id="canary-percent" type="range" min="0" max="100" step="any" value="${esc(share)}">
          <output id="canary-percent-value">${esc(share)}%${pendingShare ? " (not applied)" : ""}</output></label>
        <div class="buttons">
          <button id="canary-apply" type="button">Set share</button>
          <button id="promote" type="button">Promote ${esc(s.canary.deployment)}</button>
          <button id="canary-remove" type="button" class="secondary">Remove canary</button>
        </div>` : `
        <label>Deployment <select id="canary-deployment" data-keep>
          ${ofApi.filter((d) => d.id !== s.deployment).map((d) => `<option value="${esc(d.id)}">${esc(d.id)}${d.description ? " – " + esc(d.description) : ""}</option>`).join("")}
        </select></label>
        <label>Share <input id="canary-new-percent" data-keep type="number" min="0" max="100" step="0.1" value="10">%</label>
        <div class="buttons"><button id="canary-start" type="button">Start canary</button></div>`}
    </section>
    <section class="card"><h2>Draft</h2>
      ${draft.error ? `<p class="muted">${esc(draft.error)}</p>` : `
        <p>${draftChanges.length ? `The draft <code>${esc(draft.draft)}</code> differs from ${esc(draft.deployment)}:` : `The draft <code>${esc(draft.draft)}</code> is what ${esc(draft.deployment)} serves.`}</p>
        ${draftChanges.length ? `<pre class="diff" id="draft-diff">${esc(draftChanges.join("\n"))}</pre>` : ""}
        ${draftChanges.length ? `<div class="buttons"><input id="deploy-description" data-keep placeholder="description" size="28">
          <button id="deploy" type="button">Deploy the draft to ${esc(s.name)}</button></div>` : ""}`}
    </section>
    <section class="card"><h2>Variables</h2>
      <table id="variables"><tbody>
      ${Object.entries(s.variables).map(([k, v]) => `<tr data-variable="${esc(k)}"><td><code>${esc(k)}</code></td><td><code>${esc(v)}</code></td>
        <td><button type="button" class="secondary" data-unset="${esc(k)}">Remove</button></td></tr>`).join("")}
      </tbody></table>
      <div class="buttons"><input id="var-name" data-keep placeholder="name" size="12"> <input id="var-value" data-keep placeholder="value" size="20">
        <button id="var-set" type="button">Set</button></div>
    </section>
    <section class="card"><h2>History</h2>
      <div class="table-wrap"><table id="history"><thead><tr><th>Deployment</th><th>Since</th><th>Description</th><th>Changes from the entry before</th><th></th></tr></thead><tbody>
      ${history.map((h, i) => {
        const before = history[i + 1];
        const diff = before && byId[before.deployment] && byId[h.deployment]
          ? routeDiff(byId[before.deployment], byId[h.deployment]) : [];
        return `<tr data-deployment="${esc(h.deployment)}" class="${h.current ? "current" : ""}">
          <td><a href="#/deployment/${esc(h.deployment)}">${esc(h.deployment)}</a>${h.current ? ' <span class="pill">current</span>' : ""}</td>
          <td>${when(h.at)}</td><td>${esc(h.description || "")}</td>
          <td><pre class="diff">${esc(before ? (diff.length ? diff.join("\n") : "same routes") : "")}</pre></td>
          <td>${h.deployment === s.deployment || !h.exists ? "" : `<button type="button" data-rollback="${esc(h.deployment)}">Roll back to this</button>`}</td></tr>`;
      }).join("")}
      </tbody></table></div>
    </section>`);
  const slider = document.getElementById("canary-percent");
  if (slider) {
    slider.addEventListener("input", () => {
      const v = Math.round(Number(slider.value));
      pendingShare = { canary: canaryKey, value: v };
      document.getElementById("canary-percent-value").textContent = v + "% (not applied)";
    });
    document.getElementById("canary-apply").onclick = async () => {
      const p = pendingShare ? pendingShare.value : s.canary.percent;
      if (await write("PUT", `stages/${name}/canary`, { percent: p }, `${name}: canary at ${p}%`)) pendingShare = null;
    };
    document.getElementById("promote").onclick = () => {
      pendingShare = null;
      const v = { ...s.variables, ...s.canary.variables };
      if (confirm(`Promote ${s.canary.deployment} on ${name}? The stage will serve it with the variables ` +
        `${Object.entries(v).map(([k, x]) => k + "=" + x).join(" ") || "(none)"}, and the canary is removed.`)) {
        write("POST", `stages/${name}/promote`, undefined, `${name}: promote ${s.canary.deployment}`);
      }
    };
    document.getElementById("canary-remove").onclick = () => {
      if (confirm(`Remove the canary of ${name}? All requests go to ${s.deployment} again.`)) {
        write("DELETE", `stages/${name}/canary`, undefined, `${name}: remove the canary`);
      }
    };
  }
  const start = document.getElementById("canary-start");
  if (start) {
    start.onclick = () => {
      const d = document.getElementById("canary-deployment").value;
      const p = Number(document.getElementById("canary-new-percent").value);
      if (d) write("PUT", `stages/${name}/canary`, { deployment: d, percent: p }, `${name}: canary ${d} at ${p}%`);
    };
  }
  const deploy = document.getElementById("deploy");
  if (deploy) {
    deploy.onclick = async () => {
      const input = document.getElementById("deploy-description");
      const description = input.value.trim();
      if (!confirm(`Deploy the draft of ${s.api} to ${name}? It becomes a new deployment, served at once` +
        (s.canary ? ` to the requests that do not go to the canary (${s.canary.deployment} at ${s.canary.percent}% stays).` : "."))) return;
      if (await write("POST", `stages/${name}/deploy`, { api: s.api, description: description || undefined }, `${name}: deploy the draft`)) {
        document.getElementById("deploy-description").value = "";
      }
    };
  }
  for (const b of view.querySelectorAll("[data-rollback]")) {
    b.onclick = () => {
      const to = b.dataset.rollback;
      const v = Object.entries(s.variables).map(([k, x]) => k + "=" + x).join(" ") || "none";
      if (confirm(`Roll ${name} back to ${to}? Only the deployment changes: the variables (${v})` +
        `${s.canary ? ` and the canary (${s.canary.deployment} at ${s.canary.percent}%)` : ""} stay as they are.`)) {
        write("POST", `stages/${name}/rollback`, { to }, `${name}: roll back to ${to}`);
      }
    };
  }
  for (const b of view.querySelectorAll("[data-unset]")) {
    b.onclick = () => {
      const k = b.dataset.unset;
      if (confirm(`Remove variable ${k} from ${name}? Routes whose URIs or templates use it change at once (a URI without it answers 500).`)) {
        write("PATCH", `stages/${name}/variables`, { unset: [k] }, `${name}: remove ${k}`);
      }
    };
  }
  document.getElementById("var-set").onclick = async () => {
    const k = document.getElementById("var-name").value.trim();
    const v = document.getElementById("var-value").value;
    if (k && await write("PATCH", `stages/${name}/variables`, { set: { [k]: v } }, `${name}: set ${k}`)) {
      document.getElementById("var-name").value = "";
      document.getElementById("var-value").value = "";
    }
  };
}

async function deploymentPage(id, dep) {
  const [d, stages] = await Promise.all([get("deployments/" + encodeURIComponent(dep)), get("stages")]);
  if (id !== renderId) return;
  const using = stages.filter((s) => s.deployment === d.id || (s.canary && s.canary.deployment === d.id));
  draw(`<h1>Deployment ${esc(d.id)} <span class="muted">of ${esc(d.api)}</span></h1>
    <p>${esc(d.description || "")} ${when(d.created)}</p>
    <p>Served by: ${using.length ? using.map((s) => `<a href="#/stage/${esc(s.name)}">${esc(s.name)}</a>${s.deployment === d.id ? "" : " (canary)"}`).join(", ") : `<span class="muted">no stage</span>`}</p>
    <div class="table-wrap"><table id="routes"><thead><tr><th>Route</th><th>Integration</th><th>URI</th><th>Authorizer</th><th>API key</th></tr></thead><tbody>
    ${d.routes.map((r) => `<tr><td><code>${esc(r.route)}</code></td><td>${esc(r.integration)}</td>
      <td><code>${esc(r.uri || "")}</code></td><td>${esc(r.authorizer || "")}</td><td>${r.api_key_required ? "required" : ""}</td></tr>`).join("")}
    </tbody></table></div>`);
}

async function deploymentsPage(id) {
  const [list, stages] = await Promise.all([get("deployments"), get("stages")]);
  if (id !== renderId) return;
  const usedBy = (dep) => stages.filter((s) => s.deployment === dep || (s.canary && s.canary.deployment === dep))
    .map((s) => `<a href="#/stage/${esc(s.name)}">${esc(s.name)}</a>${s.deployment === dep ? "" : " (canary)"}`).join(", ");
  draw(`<h1>Deployments</h1><div class="table-wrap"><table id="deployments"><thead><tr>
    <th>Deployment</th><th>API</th><th>Created</th><th>Description</th><th>Routes</th><th>Served by</th></tr></thead><tbody>
    ${list.map((d) => `<tr><td><a href="#/deployment/${esc(d.id)}">${esc(d.id)}</a></td><td>${esc(d.api)}</td>
      <td>${when(d.created)}</td><td>${esc(d.description || "")}</td><td>${d.routes.length}</td><td>${usedBy(d.id)}</td></tr>`).join("")}
    </tbody></table></div>`);
}

async function keysPage(id) {
  const keys = await get("keys");
  if (id !== renderId) return;
  draw(`<h1>API keys</h1>
    <p class="muted">Names only: a key's value is shown once, by <code>stagecraft keys create</code>, and stored as a hash.</p>
    <div class="table-wrap"><table id="keys"><thead><tr><th>Key</th><th>Plans</th><th>Enabled</th><th>Created</th><th>Description</th><th></th></tr></thead><tbody>
    ${keys.map((k) => `<tr data-key="${esc(k.name)}"><td>${esc(k.name)}</td><td>${k.plans.map(esc).join(", ")}</td>
      <td>${k.enabled ? "yes" : "no"}</td><td>${when(k.created)}</td><td>${esc(k.description || "")}</td>
      <td><button type="button" class="secondary" data-key-action="${k.enabled ? "disable" : "enable"}" data-key-name="${esc(k.name)}">${k.enabled ? "Disable" : "Enable"}</button></td></tr>`).join("")}
    </tbody></table></div>
    ${keys.length ? "" : `<p class="muted">No key yet: <code>stagecraft keys create --name NAME --plan PLAN</code>.</p>`}`);
  for (const b of view.querySelectorAll("[data-key-action]")) {
    b.onclick = () => {
      if (b.dataset.keyAction === "disable" &&
        !confirm(`Disable key ${b.dataset.keyName}? Every request with it is refused (403) from the next one on.`)) return;
      write("POST", `keys/${encodeURIComponent(b.dataset.keyName)}/${b.dataset.keyAction}`, undefined,
        `${b.dataset.keyAction} key ${b.dataset.keyName}`);
    };
  }
}

async function gatewayPage(id) {
  const s = await get("status");
  if (id !== renderId) return;
  const resolved = s.last_error && s.last_error.at < s.loaded_at;
  draw(`<h1>Gateway</h1>
    <dl class="facts">
      <dt>Generation</dt><dd id="generation">${esc(s.generation)}</dd>
      <dt>Loaded at</dt><dd>${when(s.loaded_at)}</dd>
      <dt>Reloads</dt><dd>${esc(s.reloads.success)} succeeded, ${esc(s.reloads.failure)} failed</dd>
      <dt>Last error</dt><dd id="last-error">${s.last_error ? `<pre>${esc(s.last_error.message)}</pre><span class="muted">${when(s.last_error.at)}${resolved ? ": the configuration has loaded since" : ": the directory does not load; what is served is the configuration before it"}</span>` : '<span class="muted">none</span>'}</dd>
      <dt>Listeners</dt><dd>${s.listeners.map((l) => `<code>${esc(l.addr)}</code>${l.tls ? " (TLS)" : ""}`).join(" ")}</dd>
      <dt>Admin</dt><dd><code>${esc(s.admin || "")}</code> ${s.writable ? "" : "(read-only: no admin_auth.tokens_file)"}</dd>
      <dt>Configuration</dt><dd><code>${esc(s.config_dir)}</code></dd>
    </dl>
    ${s.warnings.length ? `<h2>Warnings</h2><pre>${esc(s.warnings.join("\n"))}</pre>` : ""}`);
}

// Draws the page the hash names, then keeps it live.
async function route() {
  const id = ++renderId;
  clearTimeout(timer);
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, arg] = hash.split("/").map(decodeURIComponent);
  const section = page === "stage" || !page ? "stages" : page === "deployment" ? "deployments" : page;
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === section);
  try {
    if (page === "stage" && arg) await stagePage(id, arg);
    else if (page === "deployment" && arg) await deploymentPage(id, arg);
    else if (page === "deployments") await deploymentsPage(id);
    else if (page === "keys") await keysPage(id);
    else if (page === "gateway") await gatewayPage(id);
    else await overview(id);
    document.getElementById("banner").hidden = true;
    // When this document first showed its data, in ms from navigation start (the tests read it).
    if (id === renderId && window.stagecraftDrawn === undefined) window.stagecraftDrawn = performance.now();
  } catch (e) {
    if (id === renderId && (e.status === 404 || e.status === 422)) {
      view.dataset.page = location.hash;
      view.innerHTML = `<h1>${e.status === 404 ? "Not found" : "Cannot read this"}</h1><pre class="error">${esc(e.message)}</pre><p><a href="#/">All stages</a></p>`;
      document.getElementById("banner").hidden = true;
    } else if (id === renderId) {
      const b = document.getElementById("banner");
      b.hidden = false;
      b.textContent = (e.status ? "The admin API answered " + e.status + ": " : "Cannot reach the admin API: ") + e.message;
    }
  }
  if (id === renderId) {
    // Not under the pointer, nor over a selection being copied, nor behind the token dialog.
    const busy = () => pointerDown || document.getElementById("token-dialog").open ||
      String(window.getSelection()).length > 0;
    timer = setTimeout(function tick() {
      if (id !== renderId) return;
      if (busy()) timer = setTimeout(tick, 1000);
      else route();
    }, 1000);
  }
}

document.getElementById("token-button").onclick = () => askToken();
document.addEventListener("pointerdown", () => { pointerDown = true; });
document.addEventListener("pointerup", () => { pointerDown = false; });
window.addEventListener("hashchange", () => {
  document.getElementById("last-action").hidden = true;
  pendingShare = null;
  route();
});
showToken();
route();
