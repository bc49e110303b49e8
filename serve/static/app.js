// rayapp web page: upscale an image (bytes in, bytes out via POST /v1/upscale) and compare it
// with the original; follow a video job (/v1/jobs), play its preview while it runs and its
// output once it finished, and show its certificate.
// Errors from the API are {"error": {"code", "message"}}. Server text goes in as textContent.
"use strict";

const $ = (id) => document.getElementById(id);
let picked = null;
let jobTimer = null;
let player = null;  // hls.js on the job's preview, while it runs
let shownOutput = null;  // the output URL the video element plays
let fetchingOutput = null;  // the output URL being fetched
// The poll that first gives the output is the last (the job has ended): a fetch of it that
// fails is tried again, a second apart, up to this many times in all.
const OUTPUT_TRIES = 10;

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

// An image's blob URL, revoking the one it held (the download link shares the after's).
function show(img, url) {
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  if (url) img.src = url;
  else img.removeAttribute("src");
}

// #stage takes the displayed image's aspect ratio: the after image's once there is one, and
// the original, stretched to it, shows its pixels (nearest).
function fitStage(img) {
  $("compare").style.setProperty("--ratio", img.naturalWidth / img.naturalHeight);
}

// The original shows left of the split, the upscaled image right of it: percent of the width.
function split(percent) {
  const slider = $("slider");
  slider.value = percent; // the range clamps it to [0, 100] and rounds it to its step
  $("after").style.clipPath = `inset(0 0 0 ${slider.value}%)`;
  $("divider").style.left = `${slider.value}%`;
  slider.setAttribute("aria-valuetext", `${slider.value}% original`);
}

function dragSplit(event) {
  const stage = $("stage");
  if ($("slider").hidden) return;
  if (event.type === "pointerdown") stage.setPointerCapture(event.pointerId);
  else if (!stage.hasPointerCapture(event.pointerId)) return;
  const box = stage.getBoundingClientRect();
  split(((event.clientX - box.left) / box.width) * 100);
}

function pick(file) {
  if (!file) return;
  picked = file;
  const before = $("before");
  const after = $("after");
  before.onload = () => {
    $("before-size").textContent = `${before.naturalWidth}×${before.naturalHeight}`;
    if (!after.dataset.ready) fitStage(before);
  };
  show(before, URL.createObjectURL(file));
  show(after, null);
  delete after.dataset.ready;
  $("after-size").textContent = "";
  $("download").hidden = $("slider").hidden = $("divider").hidden = true;
  $("compare").hidden = false;
  $("go").disabled = false;
  status("image-status", `${file.name}: ${file.size} bytes`);
}

async function upscale(event) {
  event.preventDefault();
  if (!picked) return;
  const params = new URLSearchParams({ model: $("model").value });
  if ($("outscale").value) params.set("outscale", $("outscale").value);
  if ($("format").value) params.set("format", $("format").value);
  if ($("faces").checked) params.set("faces", "true");
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
      fitStage(after);
      split($("slider").value);
      $("slider").hidden = $("divider").hidden = false;
      after.dataset.ready = "1";
    };
    show(after, url);
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
  if ($("job-deflicker").checked) body.deflicker = true;
  if ($("job-faces").checked) body.faces = true;
  const interpolate = Number($("job-interpolate").value);
  if (interpolate > 1) body.interpolate = interpolate;
  if ($("job-preview").checked) body.preview = true;
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
  if (player) player.destroy();
  player = null;
  shownOutput = null;
  fetchingOutput = null;
  $("job-video").hidden = true;
  jobTimer = setInterval(() => pollJob(jobId), 1000);
}

// The finished job's certificate (<output>.report.json, rayapp/pipeline/_report.py): is the
// output whole (integrity, from packets), and how good (quality, sampled; no ground truth).
const fixed = (v, digits) => (v == null ? "n/a" : v.toFixed(digits));
const db = (v) => (v == null ? "∞ (identical)" : `${v.toFixed(1)} dB`);
const streams = (unit) => (c) => {
  if (c.streams.length === 0) return "none in the source";
  const each = (s, i) => `#${i}: ${s.items} ${unit}, ${s.identical ? "identical" : "DIFFERENT"}`;
  return c.streams.map(each).join("; ");
};
const CHECKS = {
  frames: ["Frames", (c) => `${c.output} out of ${c.source}`],
  pts: ["Timestamps (pts)", (c) => (c.first_mismatch == null
    ? "every frame at its source pts"
    : `first differs at frame ${c.first_mismatch}`)],
  duration_s: ["Duration", (c) => `${fixed(c.output, 3)} s (source ${fixed(c.source, 3)} s)`],
  audio: ["Audio streams", streams("packets")],
  subtitles: ["Subtitle streams", streams("cues")],
  colour: ["Colour", (c) => (c.ok ? c.output : `${c.output} (source ${c.source})`)],
  rotation: ["Rotation", (c) => (c.ok ? `${c.output}°` : `${c.output}° (source ${c.source}°)`)],
  field_order: ["Field order", (c) => (c.deinterlaced
    ? `${c.output} (source ${c.source}, ${c.ivtc ? "field matched, " : ""}deinterlaced ${c.deinterlaced}${c.field_rate ? ", a frame per field" : ""})`
    : `${c.output} (source ${c.source})`)],
  sample_aspect_ratio: ["Sample aspect ratio", (c) => (c.ok
    ? c.output : `${c.output} (source ${c.source})`)],
  timecode: ["Timecode", (c) => (c.source == null ? "none in the source"
    : c.ok ? c.output : `${c.output ?? "none"} (source ${c.source})`)],
  captions: ["Captions (608/708)", (c) => (c.source === 0 ? "none in the source"
    : `${c.output} of ${c.source} captioned frames`)],
  hdr: ["HDR10 metadata", (c) => (c.source == null ? "none in the source"
    : c.ok ? "mastering display and light level kept" : "DIFFERENT from the source's")],
};

// Rows of text cells into a table's body; the first cell is the row's header.
function fillRows(table, rows) {
  table.tBodies[0].replaceChildren(...rows.map(([name, ...values]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name;
    tr.append(th);
    for (const value of values) {
      const td = document.createElement("td");
      td.textContent = value;
      if (value === "passed") td.className = "ok";
      if (value === "FAILED") td.className = "failed";
      tr.append(td);
    }
    return tr;
  }));
}

// The warping error (x1000) of sampled pairs, inside chunks and across the seams that fall
// inside a scene, each beside a bicubic upscale's: where a chunk's keyframe steps, it shows.
function temporalRows(t) {
  const pair = (s) => s.pairs
    ? `mean ${fixed(s.mean, 3)}, max ${fixed(s.max, 3)} over ${s.pairs} pair(s) (bicubic ${fixed(s.bicubic_mean, 3)})`
    : "none sampled";
  const seams = t.seams;
  const worst = seams.worst
    ? `into frame ${seams.worst.first_frame_index}: ${fixed(seams.worst.warping_error, 3)} (bicubic ${fixed(seams.worst.bicubic, 3)})`
    : "none";
  return [
    ["Warping error inside chunks", pair(t.inside)],
    ["Seams inside scenes", `${seams.inside_scenes} (${seams.at_scene_cuts} at scene cuts)`],
    ["Warping error at those seams", pair(seams)],
    ["Worst seam", worst],
  ];
}

function showReport(report) {
  $("job-report").hidden = !report;
  if (!report) return;
  const warnings = [];
  const checks = Object.entries(report.integrity).filter(([key]) => key !== "ok");
  fillRows($("job-checks"), checks.map(([key, c]) => {
    const [name, detail] = CHECKS[key] ?? [key, (v) => JSON.stringify(v)];
    if (!c.ok) warnings.push(`${name}: ${detail(c)}`);
    return [name, c.ok ? "passed" : "FAILED", detail(c)];
  }));

  const q = report.quality;
  if (q) {
    const { psnr_db: psnr, ssim, outliers } = q.consistency;
    fillRows($("job-quality"), [
      ["Sampled frames", `${q.sampled_frames.length}`],
      ["Consistency PSNR",
        `mean ${db(psnr.mean)}, median ${db(psnr.median)}, min ${db(psnr.min)}`],
      ["Consistency SSIM", `mean ${fixed(ssim.mean, 4)}, min ${fixed(ssim.min, 4)}`],
      ["Outlier frames", outliers.length ? outliers.join(", ") : "none"],
      ...temporalRows(q.temporal),
    ]);
    if (outliers.length) {
      const why = "over 10 dB below the median, or under 20 dB";
      warnings.push(`Consistency outliers at frames ${outliers.join(", ")} (${why})`);
    }
  } else if (!report.integrity.ok) {  // never written: nothing to measure
    fillRows($("job-quality"), [["Not measured", "the output failed its integrity checks"]]);
  } else {
    fillRows($("job-quality"), [["Not measured", "no frames were sampled"]]);
    warnings.push("Quality not measured (no frames sampled)");
  }

  const speed = report.speed;
  fillRows($("job-run"), [
    ["Elapsed", `${fixed(speed.elapsed_s, 1)} s`],
    ["Speed", `${fixed(speed.frames_per_s, 2)} frames/s`],
    ["Chunks", `${speed.chunks} (${speed.chunks_reused} reused from an earlier run)`],
    ["Repeated frames skipped", `${speed.frames_skipped}`],
    ["Replica time", `${fixed(speed.replica_s, 1)} s`],
    ["Output", report.integrity.ok ? report.output : `${report.output} (not written)`],
  ]);

  const items = warnings.length ? warnings : ["none"];
  $("job-warnings").replaceChildren(...items.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  $("job-report-json").textContent = JSON.stringify(report, null, 1);
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
  const archive = job.archive;
  if (archive) {  // an archive: its videos, as each one ends
    text += ` — videos ${archive.videos_ended}/${archive.videos_total}`;
    text += ` (${archive.done} done, ${archive.skipped} skipped, ${archive.failed} failed)`;
    text += `, frames ${archive.frames_done}`;
    if (archive.videos_ended < archive.videos_total) text += `, ETA ${archive.eta_s} s`;
    text += ` — table ${archive.table}`;
    $("job-progress").value = job.percent ?? 0;
  } else if (job.frames_total != null) {
    text += ` — frames ${job.frames_done}/${job.frames_total}`;
    if (job.fps != null) text += `, ${job.fps.toFixed(2)} fps`;
    if (job.eta_s != null) text += `, ETA ${job.eta_s} s`;
    $("job-progress").value = job.percent ?? 0;
  }
  if (job.error) text += ` — ${job.error}`;
  status("job-status", text, job.status === "FAILED");
  showReport(job.report);
  showVideo(job);
  if (["SUCCEEDED", "FAILED", "STOPPED"].includes(job.status)) {
    clearInterval(jobTimer);
    $("job-stop").hidden = true;
  }
}

// The job's video: its growing preview (HLS, through hls.js, every request with the token)
// while it runs, then the finished output.
async function showVideo(job) {
  const video = $("job-video");
  if (job.preview && !player && window.Hls && Hls.isSupported()) {
    const token = authHeaders().Authorization;
    player = new Hls({
      xhrSetup: (xhr) => { if (token) xhr.setRequestHeader("Authorization", token); },
    });
    player.on(Hls.Events.ERROR, (event, data) => {
      if (data.fatal) {  // not published yet (404): the next poll starts it again
        player.destroy();
        player = null;
      }
    });
    player.loadSource(job.preview);
    player.attachMedia(video);
    video.dataset.showing = "preview";
    video.hidden = false;
    player.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
  }
  if (job.output) showOutput(job.output, OUTPUT_TRIES);
}

// The finished output in the video element, once: a failed fetch is tried again (OUTPUT_TRIES
// in all, a second apart), then said in the job's status line.
async function showOutput(url, tries) {
  if (shownOutput === url || fetchingOutput === url) return;
  fetchingOutput = url;
  let failure = null;
  try {
    const resp = await fetch(url, { headers: authHeaders() });
    if (resp.ok) {
      const blob = await resp.blob();
      if (fetchingOutput !== url) return;  // another job was submitted meanwhile
      if (player) {
        player.destroy();
        player = null;
      }
      const video = $("job-video");
      video.src = URL.createObjectURL(blob);
      video.dataset.showing = "output";
      video.hidden = false;
      shownOutput = url;
    } else {
      failure = await apiError(resp);
    }
  } catch (e) {
    failure = e.message;
  } finally {
    if (fetchingOutput === url) fetchingOutput = null;
  }
  if (failure === null || shownOutput === url) return;
  if (tries > 1) {
    setTimeout(() => showOutput(url, tries - 1), 1000);
  } else {
    const line = $("job-status").textContent;
    status("job-status", `${line} — the output did not load: ${failure}`, true);
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
  $("slider").addEventListener("input", (e) => split(e.target.value));
  $("stage").addEventListener("pointerdown", dragSplit);
  $("stage").addEventListener("pointermove", dragSplit);
  $("image-form").addEventListener("submit", upscale);
  $("job-form").addEventListener("submit", submitJob);
  loadModels();
}

init();
