// The page: pick a server and a model, drop or pick an image, see its top classes, then look at
// its maps (gallery, comparison), attack it, or evaluate the model's robustness.
import { app } from "./app.js";
import { getJSON, postJSON, upload } from "./api.js";
import * as attack from "./attack.js";
import { renderSnippets } from "./code.js";
import * as compare from "./compare.js";
import { $, clear, el, fmt, hideMessage, percent, showMessage } from "./dom.js";
import * as evaluate from "./evaluate.js";
import * as gallery from "./gallery.js";

const VIEWS = { gallery, compare, attack, evaluate };

function showView(name) {
  const view = VIEWS[name] ? name : "gallery";
  for (const tab of document.querySelectorAll("nav.tabs button")) tab.setAttribute("aria-selected", String(tab.dataset.view === view));
  for (const section of document.querySelectorAll("section.view")) section.hidden = section.id !== `view-${view}`;
  app.save({ view });
  return view;
}

function modelCard(model) {
  const card = clear($("#model-card"));
  card.append(el("h2", { text: model.name }));
  if (!model.ready) {
    card.append(el("p", { className: "reason error", text: `not ready: ${model.status}` }));
    return;
  }
  const row = (name, value) => [el("dt", { text: name }), el("dd", { text: value })];
  const labels = el("details", {}, el("summary", { text: `${model.labels.length} classes` }), el("ol", { start: 0, className: "labels" }, model.labels.map((l) => el("li", { text: l }))));
  card.append(el("dl", {},
    row("architecture", model.architecture),
    row("input", `${model.input_height} × ${model.input_width} × ${model.input_channels}`),
    row("ONNX parity gap", `${fmt(model.onnx_max_abs_logit_gap)} (relative ${fmt(model.onnx_max_rel_logit_gap)})`),
    row("device", model.device),
    row("CAM layer", model.default_cam_layer || "—")), labels);
}

async function predict() {
  const list = clear($("#top-k"));
  app.top = [];
  if (!app.ready()) return;
  try {
    const result = await postJSON("/api/predict", { ...app.base(), top_k: Math.min(5, app.model.labels.length || 5) });
    app.top = result.top;
    for (const score of result.top) {
      const button = el("button", { type: "button", className: "class-button", dataset: { class: score.index }, title: `explain ${score.label}`, text: `${score.index} · ${score.label}` });
      button.addEventListener("click", () => {
        app.state.c = score.index;
        showView("gallery");
        gallery.onContext();
        gallery.run();
      });
      const bar = el("span", { className: "bar" });
      bar.style.width = `${Math.round(100 * score.probability)}%`;
      list.append(el("li", {}, button, el("span", { className: "probability", text: percent(score.probability) }), el("span", { className: "bar-track" }, bar)));
    }
    renderSnippets($("#predict-code"), result.snippets);
    list.dataset.done = "1";
  } catch (error) {
    showMessage(error.message);
  }
}

async function contextChanged() {
  await predict();
  for (const view of Object.values(VIEWS)) view.onContext();
}

function showImage(image) {
  app.image = image;
  app.save({ img: image.id });
  $("#current-image").src = image.url;
  $("#current-image").alt = image.name;
  $("#current-name").textContent = `${image.name} · ${image.width} × ${image.height}${image.label ? ` · true class ${image.label}` : ""}`;
  for (const thumb of document.querySelectorAll("#demo-images button")) thumb.setAttribute("aria-pressed", String(thumb.dataset.id === image.id));
}

async function setImage(image) {
  showImage(image);
  await contextChanged();
}

async function sendFile(file) {
  if (!file) return;
  if (file.size > app.config.max_upload_bytes) {
    showMessage(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB; the limit is ${(app.config.max_upload_bytes / 2 ** 20).toFixed(1)} MiB`);
    return;
  }
  try {
    hideMessage();
    await setImage(await upload(file));
  } catch (error) {
    showMessage(error.message);
  }
}

async function chooseModel(name) {
  app.model = app.models.find((m) => m.name === name) ?? null;
  app.save({ m: name });
  modelCard(app.model);
  if (app.model && !app.model.ready) { showMessage(`model ${name} is not ready: ${app.model.status}`); return; }
  await contextChanged();
}

async function chooseTarget(name) {
  app.targetName = name;
  app.save({ t: name });
  const select = clear($("#model"));
  try {
    const answer = await getJSON(`/api/models?target=${encodeURIComponent(name)}`);
    app.models = answer.models;
    app.methods = answer.methods;
  } catch (error) {
    app.models = [];
    app.methods = [];
    showMessage(error.message);
    return;
  }
  for (const model of app.models) select.append(el("option", { value: model.name, text: model.ready ? model.name : `${model.name} (not ready)` }));
  const wanted = app.models.find((m) => m.name === app.state.m) ?? app.models.find((m) => m.ready) ?? app.models[0];
  if (wanted) {
    select.value = wanted.name;
    await chooseModel(wanted.name);
  }
}

function wireImageInputs() {
  const drop = $("#drop");
  $("#file").addEventListener("change", (event) => sendFile(event.target.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    sendFile(event.dataTransfer.files[0]);
  });
  for (const image of app.config.demo) {
    const thumb = el("button", { type: "button", className: "thumb", dataset: { id: image.id }, title: image.name }, el("img", { src: image.url, alt: image.name }));
    thumb.addEventListener("click", () => setImage(image));
    $("#demo-images").append(thumb);
  }
}

async function boot() {
  try {
    app.config = await getJSON("/api/config");
  } catch (error) {
    showMessage(error.message);
    return;
  }
  const targets = $("#target");
  for (const target of app.config.targets) {
    const flags = [target.tls ? "TLS" : "", target.token ? "token" : ""].filter(Boolean).join(", ");
    targets.append(el("option", { value: target.name, text: `${target.name} · ${target.address}${flags ? ` (${flags})` : ""}` }));
  }
  wireImageInputs();
  for (const view of Object.values(VIEWS)) view.init();
  for (const tab of document.querySelectorAll("nav.tabs button")) tab.addEventListener("click", () => showView(tab.dataset.view));
  targets.addEventListener("change", () => chooseTarget(targets.value));
  $("#model").addEventListener("change", () => chooseModel($("#model").value));
  const view = showView(app.state.view);
  const wanted = app.config.targets.find((t) => t.name === app.state.t) ?? app.config.targets[0];
  targets.value = wanted.name;
  if (app.state.img) {
    try {
      showImage(await getJSON(`/api/images/${encodeURIComponent(app.state.img)}/info`));
    } catch (error) {
      showMessage(error.message);
    }
  }
  await chooseTarget(wanted.name);
  if (app.state.run === "1" && app.ready()) VIEWS[view].run();
  document.body.dataset.ready = "1";
}

boot();
