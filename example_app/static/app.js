// The example app's page: plain JS, no build step. It talks only to the app's own endpoints
// (/api/...) and to the feedback endpoint the Kaizen plugin mounts; never to the CT server.
"use strict";

const $ = (id) => document.getElementById(id);
let config = null;
let lastResult = null;
let lastStatus = null;
// Feedback total the page expects once its own ratings have reached the CT server: the plugin
// delivers feedback in batches, so a status read right after a rating may not count it yet.
let expectedFeedbackTotal = 0;
const PENDING_HINT_AFTER_MS = 30000;
const RATING_WORDS = { up: "Good", down: "Bad" };

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
      $(b).setAttribute("aria-pressed", "false");
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
    $(`rate-${rating}`).setAttribute("aria-pressed", "true");
    $("rating-status").textContent =
      `Thanks! You rated this summary ${RATING_WORDS[rating]}; your rating was sent to Kaizen.`;
    const counted = lastStatus ? lastStatus.task.feedback_count : 0;
    expectedFeedbackTotal = Math.max(expectedFeedbackTotal, counted) + 1;
    if (lastStatus) renderProgress(lastStatus.task, lastStatus.jobs);
    refresh();
  } catch (err) {
    $("rate-up").disabled = $("rate-down").disabled = false;
    $("rating-status").textContent = `Rating failed: ${err.message}`;
  }
}

// Activate a draft, or roll back to an archived (formerly active) version: the same admin call.
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

const RESULTS = {
  improved: "better than the active prompt",
  no_improvement: "not better: rejected",
  unchanged: "same text as the active prompt: no new version",
  unevaluated: "not evaluated",
};

function fmt(score) {
  return typeof score === "number" ? score.toFixed(2) : "–";
}

// Before / after on the held-out tickets the job scored both prompts on (all text escaped:
// built with textContent only).
function evaluationDetails(job) {
  const evaluation = job.job_metadata && job.job_metadata.evaluation;
  if (!evaluation || !evaluation.examples || !evaluation.examples.length) return null;
  const baseline = job.job_metadata.baseline_version_number;
  const before = baseline ? `v${baseline}` : "before";
  const after = job.job_metadata.version_number ? `v${job.job_metadata.version_number}` : "candidate";
  const head = el("tr", {}, ["Ticket", "Rated", `${before} output`, "score", `${after} output`, "score"]
    .map((text) => el("th", { textContent: text })));
  // Each cell carries its column's name: on a phone the rows are stacked, headers hidden.
  const cell = (label, props) => {
    const td = el("td", props);
    td.dataset.label = label;
    return td;
  };
  const rows = evaluation.examples.map((example) => el("tr", { className: "example" }, [
    cell("Ticket", { textContent: Object.values(example.inputs).join(" ") }),
    cell("Rated", { textContent: example.rated === "down" ? "bad: avoid" : "good" }),
    cell(`${before} output`, { className: "output", textContent: example.baseline_output }),
    cell(`${before} score`, { className: "score", textContent: fmt(example.baseline_score) }),
    cell(`${after} output`, { className: "output", textContent: example.candidate_output }),
    cell(`${after} score`, { className: "score", textContent: fmt(example.candidate_score) }),
  ]));
  const summary = `Before / after on ${evaluation.split_size} held-out tickets: ` +
    `${before} ${fmt(evaluation.baseline_score)} → ${after} ${fmt(evaluation.candidate_score)}`;
  return el("details", { className: "evaluation" }, [
    el("summary", { textContent: summary }),
    el("table", {}, [el("thead", {}, [head]), el("tbody", {}, rows)]),
  ]);
}

// A PENDING job is stored and waits for the CT server's job runner to start its process.
function pendingExplanation(job) {
  const waited = job.created_at ? Date.now() - new Date(job.created_at).getTime() : 0;
  if (waited > PENDING_HINT_AFTER_MS) {
    return "queued, still waiting to start: the CT server runs one job at a time, or its job "
      + "runner is off (KAIZEN_JOB_RUNNER=none) or has no worker (procrastinate)";
  }
  return "queued: the CT server starts it in a few seconds (it runs in its own process)";
}

function activeJob(jobs) {
  return jobs.find((job) => job.status === "PENDING" || job.status === "RUNNING") || null;
}

// Feedback since the last optimization against the threshold. Once the threshold is reached
// the bar stays full until the job it started has finished (the server already counts the
// next round from 0), and ratings the server has not counted yet are counted here.
function renderProgress(task, jobs) {
  const [since, needed] = (task.threshold_progress || `0/${task.feedback_threshold}`)
    .split("/").map(Number);
  const uncounted = Math.max(0, expectedFeedbackTotal - task.feedback_count);
  const running = activeJob(jobs);
  let shown = Math.min(needed, since + uncounted);
  let note = "";
  if (running && running.triggered_by === "threshold") {
    shown = needed;
    note = `Threshold reached: optimization job ${running.status}.`;
  } else if (shown >= needed) {
    note = "Threshold reached: the CT server is starting an optimization job.";
  } else if (running) {
    note = `Optimization job ${running.status} (started with "Optimize now").`;
  }
  $("feedback-progress").textContent = `${shown}/${needed}`;
  $("feedback-note").textContent = note;
  $("feedback-bar").style.width = `${Math.round((shown / Math.max(1, needed)) * 100)}%`;
}

function renderJobs(jobs) {
  const list = $("jobs");
  list.replaceChildren();
  if (!jobs.length) { list.append(el("li", { className: "muted", textContent: "No job yet." })); return; }
  for (const job of jobs) {
    const finished = ["SUCCESS", "FAILURE", "PR_FAILED"].includes(job.status);
    let step = job.progress_step && !finished ? ` · ${job.progress_step}` : "";
    if (job.status === "PENDING") step = ` · ${pendingExplanation(job)}`;
    const error = job.error_message ? ` · ${job.error_message}` : "";
    const version = job.job_metadata && job.job_metadata.version_number;
    const made = version ? ` → v${version}` : "";
    const result = job.result ? ` · ${RESULTS[job.result] || job.result}` : "";
    const when = job.created_at ? new Date(job.created_at).toLocaleTimeString() : "";
    const item = el("li", { className: "job" }, [
      el("span", { className: `status ${job.status}`, textContent: job.status }),
      `${made}${result}${step}${error} `,
      el("span", { className: "muted", textContent: when }),
    ]);
    item.dataset.status = job.status;
    if (job.result) item.dataset.result = job.result;
    const details = evaluationDetails(job);
    if (details) item.append(details);
    list.append(item);
  }
}

// A version's score: measured when a job made it, or (for a version made by hand) the score a
// later job measured while comparing a candidate with it; "not evaluated" when never measured.
function scoreOf(v, jobs) {
  if (v.evaluated) {
    const against = typeof v.baseline_score === "number" ? ` (vs ${fmt(v.baseline_score)})` : "";
    return `${fmt(v.eval_score)}${against}`;
  }
  const measured = jobs.find((job) => job.job_metadata && job.job_metadata.evaluation
    && job.job_metadata.baseline_version_number === v.version_number);
  if (measured) return `${fmt(measured.job_metadata.evaluation.baseline_score)} (as baseline)`;
  return "not evaluated";
}

function renderVersions(versions, jobs) {
  const body = $("versions").querySelector("tbody");
  body.replaceChildren();
  for (const v of versions) {
    const action = el("td");
    // An archived version was active before: rolling back makes it active again.
    const label = { draft: "Activate", archived: "Roll back to" }[v.status];
    if (label && config.allow_activation) {
      const button = el("button", { type: "button", textContent: `${label} v${v.version_number}`,
        className: v.status === "draft" ? "activate" : "rollback" });
      button.dataset.version = v.version_number;
      button.addEventListener("click", () => activate(v.id, button));
      action.append(button);
    }
    const status = el("td", { textContent: v.status });
    if (v.status_reason) status.title = v.status_reason;
    const row = el("tr", { className: v.status }, [
      el("td", { textContent: `v${v.version_number}` }),
      status,
      el("td", { textContent: v.optimizer || "hand-written" }),
      el("td", { className: "score", textContent: scoreOf(v, jobs) }),
      action,
    ]);
    row.dataset.version = v.version_number;
    body.append(row);
  }
}

async function refresh() {
  try {
    const status = await call("GET", "/api/status");
    lastStatus = status;
    renderProgress(status.task, status.jobs);
    renderJobs(status.jobs);
    renderVersions(status.versions, status.jobs);
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
