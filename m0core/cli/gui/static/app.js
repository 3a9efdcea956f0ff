"use strict";
// m0 gui: plain JavaScript against the JSON API beside this page (every URL is relative, so
// the per-launch token in the page's path goes with each request).
const $ = (sel) => document.querySelector(sel);
const chosen = new Map();  // key "root:path" or "uploads:name" -> label
let config = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// What the page says when the server it came from is gone: stopped, or started again (a new
// launch has a new token in its URL, so this page's requests are refused).
const GONE = "m0 gui has stopped or was started again: open the URL it printed when it started";

async function api(path, options = {}) {
  let response;
  try { response = await fetch(path, options); } catch (e) { throw new Error(GONE); }
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch (e) { body = { error: text.trim() }; }
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function say(text, bad = false) {
  const m = $("#message");
  m.textContent = text || "";
  m.className = bad ? "bad" : "";
}

function clock(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
}

// "1 highlight", "2 highlights" (m0core.cli.console.count's rule for regular nouns).
function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

// A job's clips: "2 clips", or "no clips" when it asked for none (null: run with --no-clips).
function clipsOf(job) {
  return job.clips === null ? "no clips" : count(job.clips, "clip");
}

// A job's warnings, as m0 batch says them below the job's row ("Warning: looks cut short: …").
function warningsOf(job) {
  return job.warnings.map((warning) => el("span", { class: "warn" }, `Warning: ${warning}`));
}

function size(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
  return bytes.toFixed(i ? 1 : 0) + " " + units[i];
}

// -- 1. choosing videos ---------------------------------------------------------------------
async function browse(path) {
  let data;
  try { data = await api("api/browse?path=" + encodeURIComponent(path)); }
  catch (e) { say(e.message, true); return; }
  // a folder opened from the keyboard: the focus goes to the new listing, not to nowhere
  const focused = $("#browser").parentElement.contains(document.activeElement);
  const from = currentPath();
  const crumbs = $("#crumbs");
  crumbs.replaceChildren(el("a", { href: "#", onclick: (e) => { e.preventDefault(); browse(""); } },
    "root"));
  let so_far = "";
  for (const part of data.path ? data.path.split("/") : []) {
    so_far = so_far ? so_far + "/" + part : part;
    const target = so_far;
    crumbs.append(" / ", el("a", { href: "#", onclick: (e) => { e.preventDefault(); browse(target); } },
      part));
  }
  const list = $("#browser");
  list.replaceChildren();
  if (data.parent !== null) {
    list.append(el("li", { class: "dir" }, el("a", { href: "#", onclick: (e) => {
      e.preventDefault(); browse(data.parent); } }, "⬑ ..")));
  }
  for (const name of data.dirs) {
    const target = data.path ? data.path + "/" + name : name;
    list.append(el("li", { class: "dir" }, el("a", { href: "#", "data-dir": name, onclick: (e) => {
      e.preventDefault(); browse(target); } }, "📁 " + name)));
  }
  for (const file of data.files) {
    const target = data.path ? data.path + "/" + file.name : file.name;
    list.append(fileEntry("root:" + target, target, file.name, file.size,
      { "data-file": file.name }));
  }
  if (!data.dirs.length && !data.files.length) list.append(el("li", { class: "none" },
    "no videos here"));
  if (focused) {  // on the folder just left when going up, else on the first entry
    const within = data.path ? data.path + "/" : "";
    const left = (from + "/").startsWith(within) && from.length > data.path.length ?
      from.slice(within.length).split("/")[0] : null;
    const entries = [...list.querySelectorAll("a, input")];
    (entries.find((e) => left !== null && e.dataset.dir === left) || entries[0])?.focus();
  }
}

// A file of the browser or of the uploads, ticked when chosen; ``key``: its key in ``chosen``.
function fileEntry(key, label, name, bytes, data) {
  const box = el("input", { type: "checkbox", ...data });
  box.checked = chosen.has(key);
  box.addEventListener("change", () => {
    if (box.checked) chosen.set(key, label); else chosen.delete(key);
    showChosen();
  });
  return el("li", { class: "file" }, el("label", {}, box, " " + name + " ",
    el("small", {}, size(bytes))));
}

// The files uploaded so far (OUT/uploads), to choose again: after a removal from the chosen
// list, a reload or a restart, without uploading them again.
async function showUploads() {
  let data;
  try { data = await api("api/uploads"); } catch (e) { say(e.message, true); return; }
  const list = $("#uploaded");
  list.replaceChildren(...data.files.map((file) => fileEntry("uploads:" + file.upload,
    file.name, file.upload, file.size, { "data-upload": file.upload })));
  if (!data.files.length) list.append(el("li", { class: "none" }, "nothing yet"));
}

// The chosen files; ``focusAt``: the place of a file removed from the keyboard, whose
// focus goes to the next file's "remove" (the last one's, or the list once empty).
function showChosen(focusAt = null) {
  remember();
  const list = $("#chosen");
  list.replaceChildren();
  for (const [key, label] of chosen) {
    const at = list.children.length;
    list.append(el("li", { "data-key": key }, label + " ", el("button", { type: "button",
      class: "link", "aria-label": "remove " + label, onclick: () => {
        chosen.delete(key); showChosen(at); browse(currentPath()); showUploads();
      } }, "remove")));
  }
  if (!chosen.size) list.append(el("li", { class: "none" }, "nothing yet"));
  if (focusAt !== null) {
    const buttons = list.querySelectorAll("button");
    (buttons[Math.min(focusAt, buttons.length - 1)] || list).focus();
  }
}

function currentPath() {
  const links = [...document.querySelectorAll("#crumbs a")].slice(1).map((a) => a.textContent);
  return links.join("/");
}

function upload(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", "api/upload?name=" + encodeURIComponent(file.name));
    const status = $("#upload-status");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) status.textContent =
        `Uploading ${file.name}: ${Math.round(100 * e.loaded / e.total)} %`;
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 200) resolve(body); else reject(new Error(body.error || xhr.statusText));
    };
    xhr.onerror = () => reject(new Error("the upload failed"));
    xhr.send(file);
  });
}

$("#upload").addEventListener("change", async (event) => {
  const status = $("#upload-status");
  for (const file of event.target.files) {
    if (file.size > config.max_upload) {
      status.textContent = `${file.name}: larger than the upload limit (${size(config.max_upload)})`;
      status.className = "bad";
      continue;
    }
    try {
      const done = await upload(file);
      chosen.set("uploads:" + done.upload, done.name);  // as its progress and result name it
      status.textContent = `Uploaded ${done.name} (${size(done.size)})`;
      status.className = "";
      showChosen();
      showUploads();
    } catch (e) {
      status.textContent = `${file.name}: ${e.message}`;
      status.className = "bad";
    }
  }
  event.target.value = "";
});

// -- 2. settings ----------------------------------------------------------------------------
function fill(select, names, value) {
  select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  select.value = value;
}

// The value of a number field, null when empty.
const number = (id) => ($(id).value === "" ? null : Number($(id).value));

function settings() {
  const threshold = $("#threshold").value;
  const streaming = $("#streaming").checked;
  return {
    selector: $("#selector").value,
    sensitivity: $("#selector").value === "standout" ? Number($("#sensitivity").value) : null,
    threshold: threshold === "" ? null : Number(threshold),
    clip_length: Number($("#clip-length").value),
    max_clips: number("#max-clips"),
    cut: $("#cut").value,
    streaming,
    analyzer: streaming ? $("#analyzer").value : null,
    audio_track: $("#audio-track").value.trim() || "1",
    workers: Number($("#workers").value),
    params: $("#params").value.split("\n").map((line) => line.trim()).filter(Boolean),
    ...shortForm(),
  };
}

function shortForm() {
  return {
    aspect: $("#aspect").value || null,
    fit: $("#fit").value,
    height: number("#height"),
    loudness: number("#loudness"),
    fade: number("#fade") ?? 0,
    compilation: $("#compilation").checked,
  };
}

function files() {
  const body = { paths: [], uploads: [] };
  for (const key of chosen.keys()) {
    const [kind, ...rest] = key.split(":");
    (kind === "root" ? body.paths : body.uploads).push(rest.join(":"));
  }
  return body;
}

$("#streaming").addEventListener("change", () => {
  $("#analyzer").disabled = !$("#streaming").checked;
});

function sensitivityFor() {  // the slider tunes standout only: off for the other selectors
  $("#sensitivity").disabled = $("#selector").value !== "standout";
}
$("#selector").addEventListener("change", sensitivityFor);

$("#suggest").addEventListener("click", async () => {
  const advice = $("#advice");
  advice.className = "";
  const body = files();
  if (!body.paths.length && !body.uploads.length) {
    advice.textContent = "Choose a video first: the advice comes from its levels.";
    return;
  }
  advice.textContent = "Measuring the levels of the first video…";
  try {
    const ref = await api("api/reference", { method: "POST", headers: { "Content-Type":
      "application/json" }, body: JSON.stringify({ ...body, settings: settings() }) });
    advice.replaceChildren("Suggested thresholds (for the crest selector): ");
    for (const [name, value] of Object.entries(ref.thresholds)) {
      advice.append(el("button", { type: "button", class: "chip", "data-threshold": value,
        onclick: () => {  // a crest threshold: with standout it would only be a floor
          $("#threshold").value = value;
          $("#selector").value = "crest";
          $("#selector").dispatchEvent(new Event("change"));
        } }, `${name} ${value} dB`), " ");
    }
    advice.append(`average ${ref.average_db} dB; the default selector finds ` +
      `${count(ref.adaptive_highlights, "highlight")}.`);
    for (const warning of ref.warnings) advice.append(" ", el("span", { class: "warn" },
      `Warning: ${warning}`));  // as m0 reference says it
  } catch (e) {
    advice.textContent = e.message;
    advice.className = "bad";
  }
});

// A refusal of the settings names the field as the server knows it ("clip_length must be
// …"): the page says it with the field's label, as the form shows it ("Clip length (s) …").
function labelled(message) {
  const [name, ...rest] = message.split(" ");
  const field = /^[a-z_]+$/.test(name) ? document.getElementById(name.replaceAll("_", "-")) : null;
  const label = field?.closest("#settings") && field.labels?.[0]?.firstChild?.textContent.trim();
  return label && rest.length ? `${label} ${rest.join(" ")}` : message;
}

let starting = false;  // a start request is on its way: a second click (a double click) waits
$("#start").addEventListener("click", async () => {
  say("");
  starting = $("#start").disabled = true;
  try {
    await api("api/start", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...files(), settings: settings() }) });
    // the progress may have spoken first (a batch of skipped files is done at once): its
    // "Done." stays
    if (!$("#message").textContent) say("Started.");
  } catch (e) {
    say(labelled(e.message), true);
    $("#start").disabled = false;  // nothing started: the settings may be mended and tried again
  } finally {
    starting = false;
  }
});

$("#cancel").addEventListener("click", async () => {
  try { await api("api/cancel", { method: "POST" }); say("Cancelling…"); }
  catch (e) { say(e.message, true); }
});

// -- 3. progress (server-sent events) -------------------------------------------------------
let lastStatuses = "";
let lastVersion = -1;  // the server re-sends its state every second: a message once per change
function showProgress(snap) {
  const busy = snap.state !== "idle";
  $("#start").disabled = busy || starting;
  $("#cancel").disabled = snap.state !== "running";
  if (snap.version !== lastVersion) {  // else an error said since would be overwritten
    lastVersion = snap.version;
    const failed = snap.jobs.filter((job) => job.status === "failed").length;
    if (snap.message) say(snap.message, !snap.message.startsWith("Cancelled"));
    else if (snap.state === "idle" && failed) {
      say(`Done. ${failed} of ${count(snap.jobs.length, "file")} failed: see why below.`, true);
    } else if (snap.state === "idle" && snap.jobs.length) say("Done.");
  }
  // a batch runs and nothing says so (a page loaded or reloaded meanwhile): why Start is off
  if (busy && !$("#message").textContent) {
    say(snap.state === "cancelling" ? "Cancelling…" : `A batch of ` +
      `${count(snap.jobs.length, "file")} is running: Start is back when it ends; ` +
      "Cancel stops it.");
  }
  const box = $("#progress");
  if (!snap.jobs.length) {
    box.replaceChildren(el("p", { class: "none" }, "No batch running."));
  } else {
    box.replaceChildren(...snap.jobs.map((job) => {
      const pct = Math.round(100 * job.fraction);
      const bar = el("progress", { max: "100", value: String(pct), "aria-label": job.name });
      let note = job.status;
      if (job.status === "running") note = `${pct} %` + (job.eta !== null ?
        ` · ETA ${clock(job.eta)}` : "");
      else if (job.status === "completed" || job.status === "skipped") note =
        `${job.status} · ${count(job.highlights, "highlight")}, ${clipsOf(job)}`;
      else if (job.error) note = `${job.status}: ${job.error}`;
      return el("div", { class: "job", "data-status": job.status, "data-name": job.name },
        el("span", { class: "name" }, job.name), bar, el("span", { class: "note" }, note),
        ...warningsOf(job));
    }));
  }
  const statuses = snap.state + snap.jobs.map((j) => j.status).join();
  if (statuses !== lastStatuses) { lastStatuses = statuses; loadResults(); }
}

function listen() {
  const source = new EventSource("api/events");
  let lost = false;
  source.onmessage = (event) => {
    if (lost) { lost = false; say(""); }
    showProgress(JSON.parse(event.data));
  };
  source.onerror = () => { lost = true; say(GONE, true); };  // it retries until refused
}

// -- 4. results (the ledger) ----------------------------------------------------------------
const cards = new Map();  // job key -> {text, card}: a job that did not change keeps its card
async function loadResults() {
  let data;
  try { data = await api("api/jobs"); } catch (e) { say(e.message, true); return; }
  const box = $("#results");
  if (!data.jobs.length) { box.replaceChildren(el("p", { class: "none" }, "No results yet.")); return; }
  const shown = data.jobs.map((job) => {
    const text = JSON.stringify(job);
    if (cards.get(job.key)?.text !== text) cards.set(job.key, { text, card: resultCard(job) });
    return cards.get(job.key).card;
  });
  // Only what changed is removed or added: a card taken out of the page, even to be put back,
  // would stop its players and reload its report.
  const keep = new Set(shown);
  for (const child of [...box.children]) if (!keep.has(child)) child.remove();
  shown.forEach((card, i) => {
    if (box.children[i] !== card) box.insertBefore(card, box.children[i] || null);
  });
}

// An input that is not as its job had it (api/jobs' "input", as m0 batch --status notes it).
const INPUT_NOTES = {
  gone: ["input gone", "No file at this path now (deleted, moved, or its disk not mounted); " +
    "what its job made stays."],
  changed: ["input changed since", "The file has another size or date than when this job " +
    "ran: starting it again analyses it again."],
};

function resultCard(job) {
  const head = el("div", { class: "head" }, el("strong", {}, job.name),
    el("span", { class: "status " + job.status }, job.status));
  if (INPUT_NOTES[job.input]) {
    const [note, why] = INPUT_NOTES[job.input];
    head.append(el("small", { class: "input-note", "data-input": job.input, title: why }, note));
  }
  if (job.status === "completed") head.append(el("span", {},
    `${count(job.highlights, "highlight")} · ${clipsOf(job)} · ` +
    `took ${(job.seconds || 0).toFixed(1)} s`));
  if (job.error) head.append(el("span", { class: job.status === "failed" ? "bad" : "warn" },
    job.error));
  head.append(...warningsOf(job));
  const card = el("article", { class: "result", "data-status": job.status,
    "data-name": job.name, "aria-label": job.name }, head);  // whose report, clips, files
  if (job.report) {
    const frame = el("iframe", { class: "report", title: "report of " + job.name });
    const show = el("button", { type: "button", class: "show-report", "aria-expanded": "false",
      onclick: () => {
        const opening = frame.hidden;
        if (opening) frame.src = job.report; else frame.removeAttribute("src");
        frame.hidden = !opening;
        show.textContent = opening ? "Hide report" : "Show report";
        show.setAttribute("aria-expanded", String(opening));
      } }, "Show report");
    frame.hidden = true;
    card.append(el("div", { class: "links" }, show,
      el("a", { href: job.report, target: "_blank", rel: "noopener" }, "Open report"),
      ...job.files.map((f) => el("a", { href: f.url, download: f.name }, f.name))), frame);
  }
  if (job.clip_files.length) {
    card.append(el("div", { class: "clips" }, ...job.clip_files.map((clip) => {
      const audio = /\.(wav|flac|mp3|m4a|aac|ogg|opus)$/i.test(clip.name);
      const player = el(audio ? "audio" : "video", { src: clip.url, controls: "",
        preload: "metadata", "aria-label": `${job.name}: ${clip.name}` });
      return el("figure", {}, player, el("figcaption", {}, el("a", { href: clip.url,
        download: clip.name }, "⬇ " + clip.name)));
    })));
  }
  return card;
}

// -- the user's choices, kept in the browser across a reload ----------------------------------
// Every field of the settings and the chosen files, per root and output folder (another m0 gui
// on the same port shows other files).
const FIELDS = "#settings input[id], #settings select[id], #settings textarea[id]";
const storeKey = () => `m0-gui ${config.root} ${config.out}`;

function remember() {
  if (!config) return;  // the page is still being filled: nothing the user chose yet
  const fields = {};
  for (const field of document.querySelectorAll(FIELDS)) {
    fields[field.id] = field.type === "checkbox" ? field.checked : field.value;
  }
  try { localStorage.setItem(storeKey(), JSON.stringify({ fields, chosen: [...chosen] })); }
  catch (e) { /* storage off or full: the page works without it */ }
}

function recall() {
  let kept;
  try { kept = JSON.parse(localStorage.getItem(storeKey()) || "null"); } catch (e) { kept = null; }
  if (!kept || typeof kept !== "object") return;
  for (const [id, value] of Object.entries(kept.fields || {})) {
    const field = document.getElementById(id);
    if (!field || !field.matches(FIELDS)) continue;
    if (field.type === "checkbox") field.checked = Boolean(value);
    else if (field.tagName !== "SELECT" || [...field.options].some((o) => o.value === value)) {
      field.value = value;  // a select keeps its default if the value is no longer offered
    }
  }
  for (const [key, label] of Array.isArray(kept.chosen) ? kept.chosen : []) {
    if (typeof key === "string" && typeof label === "string") chosen.set(key, label);
  }
}

$("#settings").addEventListener("input", remember);
$("#settings").addEventListener("change", remember);

async function main() {
  config = await api("api/config");
  const d = config.defaults;
  fill($("#selector"), config.selectors, d.selector);
  fill($("#analyzer"), config.analyzers, d.analyzer);
  fill($("#cut"), config.cut_modes, d.cut);
  fill($("#fit"), config.fits, d.fit);
  $("#clip-length").value = d.clip_length;
  recall();
  sensitivityFor();
  $("#analyzer").disabled = !$("#streaming").checked;
  showChosen();
  $("#out").textContent = config.out;
  $("#upload").disabled = false;  // off until now: an upload is checked against max_upload
  await browse("");
  await showUploads();
  await loadResults();
  listen();
}

main().catch((e) => say(e.message, true));
