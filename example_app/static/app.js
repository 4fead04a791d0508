// The example app's page: plain JS, no build step. It talks only to the app's own endpoints
// (/api/...) and to the feedback endpoint the Kaizen plugin mounts; never to the CT server.
"use strict";

const $ = (id) => document.getElementById(id);
let config = null;
let lastResult = null;

async function call(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = data && (data.detail || data.title);
    throw new Error(typeof detail === "string" ? detail : `HTTP ${response.status}`);
  }
  return data;
}

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

async function summarize() {
  const ticket = $("ticket").value.trim();
  if (!ticket) { $("summarize-status").textContent = "Paste a ticket first."; return; }
  $("summarize").disabled = true;
  $("summarize-status").textContent = "Summarizing…";
  try {
    lastResult = await call("POST", "/api/summarize", { ticket });
    $("summary").textContent = lastResult.summary;
    $("prompt-version").textContent = `v${lastResult.prompt_version}`;
    $("prompt-fallback").hidden = !lastResult.prompt_is_fallback;
    $("trace-id").textContent = lastResult.trace_id || "–";
    $("result-card").hidden = false;
    $("comment").value = "";
    $("rating-status").textContent = "";
    for (const b of ["rate-up", "rate-down"]) {
      $(b).disabled = !lastResult.feedback_token;
      $(b).className = "";
    }
    $("summarize-status").textContent = "";
  } catch (err) {
    $("summarize-status").textContent = `Failed: ${err.message}`;
  } finally {
    $("summarize").disabled = false;
  }
}

async function rate(rating) {
  if (!lastResult || !lastResult.feedback_token) return;
  $("rate-up").disabled = $("rate-down").disabled = true;
  const body = { token: lastResult.feedback_token, rating };
  const comment = $("comment").value.trim();
  if (comment) body.comment = comment;
  try {
    await call("POST", config.feedback_url, body);
    $(`rate-${rating}`).className = `chosen-${rating}`;
    $("rating-status").textContent = "Thanks! Your rating was sent to Kaizen.";
    refresh();
  } catch (err) {
    $("rate-up").disabled = $("rate-down").disabled = false;
    $("rating-status").textContent = `Rating failed: ${err.message}`;
  }
}

async function activate(versionId, button) {
  button.disabled = true;
  try {
    await call("POST", `/api/versions/${encodeURIComponent(versionId)}/activate`);
    await refresh();
  } catch (err) {
    button.disabled = false;
    alert(`Activation failed: ${err.message}`);
  }
}

async function optimizeNow() {
  const button = $("optimize-now");
  button.disabled = true;
  try {
    await call("POST", "/api/optimize");
    await refresh();
  } catch (err) {
    alert(`Could not start a job: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

function renderJobs(jobs) {
  const list = $("jobs");
  list.replaceChildren();
  if (!jobs.length) { list.append(el("li", { className: "muted", textContent: "No job yet." })); return; }
  for (const job of jobs) {
    const finished = ["SUCCESS", "FAILURE", "PR_FAILED"].includes(job.status);
    const step = job.progress_step && !finished ? ` · ${job.progress_step}` : "";
    const error = job.error_message ? ` · ${job.error_message}` : "";
    const version = job.job_metadata && job.job_metadata.version_number;
    const made = version ? ` → new version v${version}` : "";
    const when = job.created_at ? new Date(job.created_at).toLocaleTimeString() : "";
    const item = el("li", { className: "job" }, [
      el("span", { className: `status ${job.status}`, textContent: job.status }),
      `${made}${step}${error} `,
      el("span", { className: "muted", textContent: when }),
    ]);
    item.dataset.status = job.status;
    list.append(item);
  }
}

function renderVersions(versions) {
  const body = $("versions").querySelector("tbody");
  body.replaceChildren();
  for (const v of versions) {
    const action = el("td");
    if (v.status === "draft" && config.allow_activation) {
      const button = el("button", { type: "button", textContent: `Activate v${v.version_number}`,
        className: "activate" });
      button.dataset.version = v.version_number;
      button.addEventListener("click", () => activate(v.id, button));
      action.append(button);
    }
    const score = v.eval_score === null || v.eval_score === undefined ? "–" : v.eval_score.toFixed(2);
    body.append(el("tr", { className: v.status }, [
      el("td", { textContent: `v${v.version_number}` }),
      el("td", { textContent: v.status }),
      el("td", { textContent: v.optimizer || "hand-written" }),
      el("td", { textContent: score }),
      action,
    ]));
  }
}

async function refresh() {
  try {
    const status = await call("GET", "/api/status");
    const task = status.task;
    $("feedback-progress").textContent = task.threshold_progress
      || `${task.feedback_count}/${task.feedback_threshold}`;
    // threshold_progress counts the feedback since the last optimization ("2/5").
    const [since, needed] = (task.threshold_progress || `0/${task.feedback_threshold}`)
      .split("/").map(Number);
    const ratio = Math.min(1, since / Math.max(1, needed));
    $("feedback-bar").style.width = `${Math.round(ratio * 100)}%`;
    renderJobs(status.jobs);
    renderVersions(status.versions);
    $("active-prompt").textContent = status.active_prompt ? status.active_prompt.prompt_text : "";
  } catch (err) {
    $("feedback-progress").textContent = `unavailable (${err.message})`;
  }
}

async function start() {
  config = await call("GET", "/api/config");
  $("task-name").textContent = config.task_name;
  $("llm-label").textContent = config.llm_label;
  $("admin-note").hidden = !config.allow_activation;
  $("optimize-now").hidden = !config.allow_activation;
  for (const sample of config.samples) {
    const button = el("button", { type: "button", textContent: sample.title });
    button.addEventListener("click", () => { $("ticket").value = sample.ticket; });
    $("samples").append(button);
  }
  $("summarize").addEventListener("click", summarize);
  $("rate-up").addEventListener("click", () => rate("up"));
  $("rate-down").addEventListener("click", () => rate("down"));
  $("optimize-now").addEventListener("click", optimizeNow);
  await refresh();
  setInterval(refresh, 2000);
}

start();
