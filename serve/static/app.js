// rayapp web page: upscale an image (bytes in, bytes out via POST /v1/upscale) and follow a
// video job (/v1/jobs). Errors from the API are {"error": {"code", "message"}}.
"use strict";

const $ = (id) => document.getElementById(id);
let picked = null;
let jobTimer = null;

function authHeaders() {
  const token = $("token").value.trim();
  sessionStorage.setItem("rayapp-token", token);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function apiError(resp) {
  try {
    const body = await resp.json();
    return `${resp.status} ${body.error.code}: ${body.error.message}`;
  } catch {
    return `${resp.status} ${resp.statusText}`;
  }
}

function status(id, text, isError = false) {
  $(id).textContent = text;
  $(id).className = isError ? "error" : "";
}

async function loadModels() {
  const resp = await fetch("/v1/models", { headers: authHeaders() });
  if (!resp.ok) {
    status("image-status", await apiError(resp), true);
    return;
  }
  const select = $("model");
  select.replaceChildren();
  for (const m of await resp.json()) {
    const option = new Option(`${m.name} (x${m.scale}, ${m.genre})`, m.name, m.default, m.default);
    select.add(option);
  }
}

function pick(file) {
  if (!file) return;
  picked = file;
  const before = $("before");
  before.onload = () => {
    $("before-size").textContent = `${before.naturalWidth}×${before.naturalHeight}`;
  };
  before.src = URL.createObjectURL(file);
  $("after").removeAttribute("src");
  $("after-size").textContent = "";
  $("download").hidden = true;
  $("go").disabled = false;
  status("image-status", `${file.name}: ${file.size} bytes`);
}

async function upscale(event) {
  event.preventDefault();
  if (!picked) return;
  const params = new URLSearchParams({ model: $("model").value });
  if ($("outscale").value) params.set("outscale", $("outscale").value);
  if ($("format").value) params.set("format", $("format").value);
  status("image-status", "Upscaling…");
  $("go").disabled = true;
  const started = performance.now();
  try {
    const resp = await fetch(`/v1/upscale?${params}`, {
      method: "POST",
      headers: { "Content-Type": picked.type || "application/octet-stream", ...authHeaders() },
      body: picked,
    });
    if (!resp.ok) {
      status("image-status", await apiError(resp), true);
      return;
    }
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const after = $("after");
    after.onload = () => {
      $("after-size").textContent = `${after.naturalWidth}×${after.naturalHeight}`;
      after.dataset.ready = "1";
    };
    after.src = url;
    const ext = blob.type.split("/")[1] === "jpeg" ? "jpg" : blob.type.split("/")[1];
    $("download").href = url;
    $("download").download = `${picked.name.replace(/\.[^.]*$/, "")}-upscaled.${ext}`;
    $("download").hidden = false;
    const ms = Math.round(performance.now() - started);
    status("image-status", `Done in ${ms} ms (batch of ${resp.headers.get("X-Batch-Size")})`);
  } finally {
    $("go").disabled = false;
  }
}

async function submitJob(event) {
  event.preventDefault();
  const body = { input: $("job-input").value.trim(), output: $("job-output").value.trim() };
  if ($("job-outscale").value) body.outscale = Number($("job-outscale").value);
  const resp = await fetch("/v1/jobs", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify(body),
  });
  if (!resp.ok) {
    status("job-status", await apiError(resp), true);
    return;
  }
  const { job_id: jobId } = await resp.json();
  status("job-status", `Submitted ${jobId}`);
  $("job-progress").hidden = false;
  $("job-progress").value = 0;
  $("job-stop").hidden = false;
  $("job-stop").onclick = () =>
    fetch(`/v1/jobs/${jobId}`, { method: "DELETE", headers: authHeaders() });
  clearInterval(jobTimer);
  jobTimer = setInterval(() => pollJob(jobId), 1000);
}

// The finished job's certificate: is the output whole, and how good (no ground truth).
function showReport(report) {
  const box = $("job-report");
  box.hidden = !report;
  if (!report) return;
  const checks = report.integrity;
  const rows = [
    ["Integrity", checks.ok ? "ok" : "FAILED"],
    ["Frames", `${checks.frames.output} of ${checks.frames.source}`],
    ["Audio streams", `${checks.audio.streams.length}, ${checks.audio.ok ? "byte-identical" : "DIFFERENT"}`],
    ["Subtitle streams", `${checks.subtitles.streams.length}, ${checks.subtitles.ok ? "identical" : "DIFFERENT"}`],
    ["Duration", `${checks.duration_s.output.toFixed(3)} s (source ${checks.duration_s.source.toFixed(3)} s)`],
  ];
  const q = report.quality;
  if (q) {
    const db = (v) => (v == null ? "identical" : `${v.toFixed(1)} dB`);
    rows.push(["Consistency PSNR", `median ${db(q.consistency.psnr_db.median)}, min ${db(q.consistency.psnr_db.min)}`]);
    rows.push(["Consistency SSIM", `mean ${q.consistency.ssim.mean.toFixed(4)}`]);
    rows.push(["Outlier frames", q.consistency.outliers.length ? q.consistency.outliers.join(", ") : "none"]);
    rows.push(["Flicker (max)", q.flicker.max.toFixed(2)]);
  }
  rows.push(["Speed", `${report.speed.frames_per_s.toFixed(2)} fps, ${report.speed.frames_skipped} repeats skipped`]);
  box.replaceChildren(...rows.map(([name, value]) => {
    const tr = document.createElement("tr");
    for (const text of [name, value]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
}

async function pollJob(jobId) {
  const resp = await fetch(`/v1/jobs/${jobId}`, { headers: authHeaders() });
  if (!resp.ok) {
    status("job-status", await apiError(resp), true);
    clearInterval(jobTimer);
    return;
  }
  const job = await resp.json();
  let text = `${jobId}: ${job.status}`;
  if (job.frames_total != null) {
    text += ` — frames ${job.frames_done}/${job.frames_total}`;
    if (job.fps != null) text += `, ${job.fps.toFixed(2)} fps`;
    if (job.eta_s != null) text += `, ETA ${job.eta_s} s`;
    $("job-progress").value = job.percent ?? 0;
  }
  if (job.error) text += ` — ${job.error}`;
  status("job-status", text, job.status === "FAILED");
  showReport(job.report);
  if (["SUCCEEDED", "FAILED", "STOPPED"].includes(job.status)) {
    clearInterval(jobTimer);
    $("job-stop").hidden = true;
  }
}

function init() {
  $("token").value = sessionStorage.getItem("rayapp-token") || "";
  $("token").addEventListener("change", loadModels);
  $("file").addEventListener("change", (e) => pick(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    pick(e.dataTransfer.files[0]);
  });
  $("image-form").addEventListener("submit", upscale);
  $("job-form").addEventListener("submit", submitJob);
  loadModels();
}

init();
