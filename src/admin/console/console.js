// The stagecraft console: a page over the admin JSON API (/api/), with fetch and nothing else.
// Routes are the URL's hash (#/, #/stage/NAME, #/deployment/ID, #/deployments, #/gateway).
// Live parts poll: traffic every second, the rest every two; a write asks for the token first.
"use strict";

const view = document.getElementById("view");
const TOKEN_KEY = "stagecraft-admin-token";
let timer = null;
let renderId = 0;

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

async function get(path) {
  const r = await fetch("/api/" + path, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.message || r.statusText);
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
      if (d.returnValue === "save" && input.value) {
        sessionStorage.setItem(TOKEN_KEY, input.value);
      }
      showToken();
      resolve(token());
    });
    d.showModal();
    input.focus();
  });
}

// A write: asks for the token when there is none (and again on 401), shows the outcome and
// the CLI command that does the same, then redraws the page.
async function write(method, path, body, what) {
  let t = token() || (await askToken());
  if (!t) return null;
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await fetch("/api/" + path, {
      method,
      headers: { "content-type": "application/json", authorization: "Bearer " + t },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await r.json();
    if (r.status === 401 && attempt === 0) {
      sessionStorage.removeItem(TOKEN_KEY);
      t = await askToken();
      if (!t) return null;
      continue;
    }
    const box = document.getElementById("last-action");
    box.hidden = false;
    box.dataset.status = r.ok ? "ok" : "error";
    const problems = (answer.problems || []).map((p) => "\n" + p).join("");
    document.getElementById("last-action-result").textContent =
      (r.ok ? what + ": done" : what + " refused (" + r.status + "): " + answer.message) +
      (answer.warnings && answer.warnings.length ? " (warnings: " + answer.warnings.join("; ") + ")" : "") +
      problems;
    document.getElementById("last-action-cli").textContent = answer.cli || "";
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
    return `<div class="split idle" data-testid="split">no traffic in the last seconds` +
      (canaryPercent !== undefined ? ` (canary set to ${esc(canaryPercent)}%)` : "") + `</div>`;
  }
  return `<div class="split" data-testid="split" data-canary-share="${canary.toFixed(4)}">
      <span class="base" style="width:${base * 100}%">base <b id="split-base">${pct(base)}</b></span>
      <span class="canary" style="width:${canary * 100}%">canary <b id="split-canary">${pct(canary)}</b></span>
    </div>`;
}

function versionsList(t) {
  if (!t || !Object.keys(t.versions).length) return `<span class="muted">no traffic</span>`;
  return Object.entries(t.versions)
    .map(([v, r]) => `<span class="pill" data-version="${esc(v)}">${esc(v)} ${rps(r.requests_per_second)}/s</span>`)
    .join(" ");
}

async function overview(id) {
  const [stages, traffic] = await Promise.all([get("stages"), get("traffic?window=10")]);
  if (id !== renderId) return;
  const byStage = Object.fromEntries(traffic.stages.map((s) => [s.stage, s]));
  view.innerHTML = `<h1>Stages</h1>
    <div class="table-wrap"><table id="stages"><thead><tr>
      <th>Stage</th><th>API</th><th>Deployment</th><th>Canary</th><th>Variables</th>
      <th>Requests/s by version</th><th>Errors</th></tr></thead><tbody>
    ${stages.map((s) => {
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
    ${stages.length ? "" : `<p class="muted">No stage yet: <code>stagecraft deploy --api NAME --stage NAME</code>.</p>`}`;
}

// The routes that differ between two deployments' route lists (added, removed, changed).
function routeDiff(older, newer) {
  const key = (r) => r.route;
  const a = new Map(older.routes.map((r) => [key(r), r]));
  const b = new Map(newer.routes.map((r) => [key(r), r]));
  const out = [];
  for (const [k, r] of b) {
    if (!a.has(k)) out.push(`+ ${k} (${r.integration}${r.uri ? " " + r.uri : ""})`);
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

async function stagePage(id, name) {
  const [s, traffic, deployments] = await Promise.all([
    get("stages/" + encodeURIComponent(name)),
    get("traffic?window=10"),
    get("deployments"),
  ]);
  if (id !== renderId) return;
  const t = traffic.stages.find((x) => x.stage === name);
  const ofApi = deployments.filter((d) => d.api === s.api);
  const byId = Object.fromEntries(deployments.map((d) => [d.id, d]));
  const history = s.history.slice().reverse();
  const focused = document.activeElement && document.activeElement.id;
  const sliding = focused === "canary-percent" ? document.getElementById("canary-percent").value : null;
  view.innerHTML = `<h1>Stage ${esc(s.name)} <span class="muted">${esc(s.api)} at ${esc(s.base_path)}</span></h1>
    <section class="card"><h2>Traffic (last 10 s)</h2>
      <p>Serving <a href="#/deployment/${esc(s.deployment)}" id="stage-deployment">${esc(s.deployment)}</a>${s.canary ? `, canary <a href="#/deployment/${esc(s.canary.deployment)}" id="stage-canary">${esc(s.canary.deployment)}</a> at <b id="stage-canary-percent">${esc(s.canary.percent)}</b>%` : ""}.</p>
      ${s.canary ? splitBar(t ? t.sides : {}, s.canary.percent) : ""}
      <p>By version: ${versionsList(t)}</p>
      <p>${t ? `${rps(t.requests_per_second)} requests/s, ${pct(t.error_ratio)} 5xx, ${pct(t.client_error_ratio)} 4xx` : ""}</p>
    </section>
    <section class="card"><h2>Canary</h2>
      ${s.canary ? `
        <label>Share for ${esc(s.canary.deployment)}:
          <input id="canary-percent" type="range" min="0" max="100" step="1" value="${esc(sliding ?? s.canary.percent)}">
          <output id="canary-percent-value">${esc(sliding ?? s.canary.percent)}%</output></label>
        <div class="buttons">
          <button id="canary-apply" type="button">Set share</button>
          <button id="promote" type="button">Promote ${esc(s.canary.deployment)}</button>
          <button id="canary-remove" type="button" class="secondary">Remove canary</button>
        </div>` : `
        <label>Deployment <select id="canary-deployment">
          ${ofApi.filter((d) => d.id !== s.deployment).map((d) => `<option value="${esc(d.id)}">${esc(d.id)}${d.description ? " – " + esc(d.description) : ""}</option>`).join("")}
        </select></label>
        <label>Share <input id="canary-new-percent" type="number" min="0" max="100" step="1" value="10">%</label>
        <div class="buttons"><button id="canary-start" type="button">Start canary</button></div>`}
    </section>
    <section class="card"><h2>Variables</h2>
      <table id="variables"><tbody>
      ${Object.entries(s.variables).map(([k, v]) => `<tr data-variable="${esc(k)}"><td><code>${esc(k)}</code></td><td><code>${esc(v)}</code></td>
        <td><button type="button" class="secondary" data-unset="${esc(k)}">Remove</button></td></tr>`).join("")}
      </tbody></table>
      <div class="buttons"><input id="var-name" placeholder="name" size="12"> <input id="var-value" placeholder="value" size="20">
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
          <td>${esc(h.at || "")}</td><td>${esc(h.description || "")}</td>
          <td><pre class="diff">${esc(before ? (diff.length ? diff.join("\n") : "same routes") : "")}</pre></td>
          <td>${h.current || !h.exists ? "" : `<button type="button" data-rollback="${esc(h.deployment)}">Roll back to this</button>`}</td></tr>`;
      }).join("")}
      </tbody></table></div>
    </section>`;
  const slider = document.getElementById("canary-percent");
  if (slider) {
    if (sliding !== null) slider.focus();
    slider.addEventListener("input", () => {
      document.getElementById("canary-percent-value").textContent = slider.value + "%";
    });
    document.getElementById("canary-apply").onclick = () =>
      write("PUT", `stages/${name}/canary`, { percent: Number(slider.value) }, `canary at ${slider.value}%`);
    document.getElementById("promote").onclick = () => write("POST", `stages/${name}/promote`, undefined, "promote");
    document.getElementById("canary-remove").onclick = () => write("DELETE", `stages/${name}/canary`, undefined, "remove canary");
  }
  const start = document.getElementById("canary-start");
  if (start) {
    start.onclick = () => {
      const d = document.getElementById("canary-deployment").value;
      const p = Number(document.getElementById("canary-new-percent").value);
      if (d) write("PUT", `stages/${name}/canary`, { deployment: d, percent: p }, `canary ${d} at ${p}%`);
    };
  }
  for (const b of view.querySelectorAll("[data-rollback]")) {
    b.onclick = () => write("POST", `stages/${name}/rollback`, { to: b.dataset.rollback }, "rollback to " + b.dataset.rollback);
  }
  for (const b of view.querySelectorAll("[data-unset]")) {
    b.onclick = () => write("PATCH", `stages/${name}/variables`, { unset: [b.dataset.unset] }, "remove " + b.dataset.unset);
  }
  document.getElementById("var-set").onclick = () => {
    const k = document.getElementById("var-name").value.trim();
    const v = document.getElementById("var-value").value;
    if (k) write("PATCH", `stages/${name}/variables`, { set: { [k]: v } }, `set ${k}`);
  };
}

async function deploymentPage(id, dep) {
  const d = await get("deployments/" + encodeURIComponent(dep));
  if (id !== renderId) return;
  view.innerHTML = `<h1>Deployment ${esc(d.id)} <span class="muted">of ${esc(d.api)}</span></h1>
    <p>${esc(d.description || "")} <span class="muted">${esc(d.created || "")}</span></p>
    <div class="table-wrap"><table id="routes"><thead><tr><th>Route</th><th>Integration</th><th>URI</th><th>Authorizer</th><th>API key</th></tr></thead><tbody>
    ${d.routes.map((r) => `<tr><td><code>${esc(r.route)}</code></td><td>${esc(r.integration)}</td>
      <td><code>${esc(r.uri || "")}</code></td><td>${esc(r.authorizer || "")}</td><td>${r.api_key_required ? "required" : ""}</td></tr>`).join("")}
    </tbody></table></div>`;
}

async function deploymentsPage(id) {
  const list = await get("deployments");
  if (id !== renderId) return;
  view.innerHTML = `<h1>Deployments</h1><div class="table-wrap"><table id="deployments"><thead><tr>
    <th>Deployment</th><th>API</th><th>Created</th><th>Description</th><th>Routes</th></tr></thead><tbody>
    ${list.map((d) => `<tr><td><a href="#/deployment/${esc(d.id)}">${esc(d.id)}</a></td><td>${esc(d.api)}</td>
      <td>${esc(d.created || "")}</td><td>${esc(d.description || "")}</td><td>${d.routes.length}</td></tr>`).join("")}
    </tbody></table></div>`;
}

async function gatewayPage(id) {
  const s = await get("status");
  if (id !== renderId) return;
  view.innerHTML = `<h1>Gateway</h1>
    <dl class="facts">
      <dt>Generation</dt><dd id="generation">${esc(s.generation)}</dd>
      <dt>Loaded at</dt><dd>${esc(s.loaded_at)}</dd>
      <dt>Reloads</dt><dd>${esc(s.reloads.success)} succeeded, ${esc(s.reloads.failure)} failed</dd>
      <dt>Last error</dt><dd id="last-error">${s.last_error ? `<pre>${esc(s.last_error.message)}</pre><span class="muted">${esc(s.last_error.at)}</span>` : '<span class="muted">none</span>'}</dd>
      <dt>Listeners</dt><dd>${s.listeners.map((l) => `<code>${esc(l.addr)}</code>${l.tls ? " (TLS)" : ""}`).join(" ")}</dd>
      <dt>Admin</dt><dd><code>${esc(s.admin || "")}</code> ${s.writable ? "" : "(read-only: no admin_auth.tokens_file)"}</dd>
      <dt>Configuration</dt><dd><code>${esc(s.config_dir)}</code></dd>
    </dl>
    ${s.warnings.length ? `<h2>Warnings</h2><pre>${esc(s.warnings.join("\n"))}</pre>` : ""}`;
}

// Draws the page the hash names, then keeps it live.
async function route() {
  const id = ++renderId;
  clearTimeout(timer);
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, arg] = hash.split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === (page === "stage" || !page ? "stages" : page === "deployment" ? "deployments" : page));
  }
  try {
    if (page === "stage" && arg) await stagePage(id, arg);
    else if (page === "deployment" && arg) await deploymentPage(id, arg);
    else if (page === "deployments") await deploymentsPage(id);
    else if (page === "gateway") await gatewayPage(id);
    else await overview(id);
    document.getElementById("banner").hidden = true;
    // When this document first showed its data, in ms from navigation start (the tests read it).
    if (id === renderId && window.stagecraftDrawn === undefined) window.stagecraftDrawn = performance.now();
  } catch (e) {
    const b = document.getElementById("banner");
    b.hidden = false;
    b.textContent = "Cannot reach the admin API: " + e.message;
  }
  if (id === renderId) {
    // A page with a slider being dragged is not redrawn under the pointer.
    const busy = () => ["canary-percent", "var-name", "var-value", "canary-new-percent", "canary-deployment"]
      .includes(document.activeElement && document.activeElement.id);
    timer = setTimeout(function tick() {
      if (id !== renderId) return;
      if (busy() || document.getElementById("token-dialog").open) timer = setTimeout(tick, 1000);
      else route();
    }, 1000);
  }
}

document.getElementById("token-button").onclick = () => askToken();
window.addEventListener("hashchange", route);
showToken();
route();
