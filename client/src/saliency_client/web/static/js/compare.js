// Two classes side by side: for each chosen method, the map of class A and of class B on one
// scale (the larger of the two), so that their strengths compare.
import { app } from "./app.js";
import { postStream } from "./api.js";
import { canvas, diagnostics, render } from "./cards.js";
import { renderSnippets, snippetDrawer } from "./code.js";
import { drawColourBar } from "./colour.js";
import { $, clear, el, fmt, showMessage } from "./dom.js";

const DEFAULT_METHODS = ["grad_cam", "integrated_gradients", "vanilla_gradient"];

function chosenMethods() {
  return [...document.querySelectorAll("#compare-methods input:checked")].map((box) => box.value);
}

function row(entry) {
  const node = el("article", { className: `compare-row ${entry.status}`, dataset: { method: entry.method, status: entry.status } });
  node.append(el("h3", { text: entry.method }));
  if (entry.status !== "ok") {
    const why = entry.status === "not_applicable" ? `Not applicable to this model: ${entry.reason}` : `${entry.code}: ${entry.error}`;
    node.append(el("p", { className: "reason", text: why }));
    return node;
  }
  const scale = Math.max(...entry.explanations.map((e) => e.scale));
  const panels = el("div", { className: "compare-panels" });
  for (const explanation of entry.explanations) {
    const picture = canvas(`${entry.method} map of class ${explanation.label}`);
    render(picture, app.image.url, explanation, scale, Number($("#opacity").value)).catch((error) => showMessage(error.message));
    panels.append(el("figure", {}, picture, el("figcaption", { text: `${explanation.target} · ${explanation.label}` }), diagnostics(explanation.diagnostics)));
  }
  node.append(panels, el("p", { className: "scale", text: `one scale for both: ±${fmt(scale)} · ${entry.seconds.toFixed(2)} s` }), snippetDrawer(entry.snippets));
  return node;
}

export function onContext() {
  const labels = app.model?.labels ?? [];
  const first = app.state.ca !== undefined ? Number(app.state.ca) : app.top[0]?.index ?? 0;
  const second = app.state.cb !== undefined ? Number(app.state.cb) : app.top[1]?.index ?? (first + 1) % Math.max(labels.length, 1);
  for (const [id, chosen] of [["#compare-a", first], ["#compare-b", second]]) {
    const select = clear($(id));
    labels.forEach((label, index) => select.append(el("option", { value: index, selected: index === chosen, text: `${index} · ${label}` })));
  }
  const wanted = app.state.cm ? app.state.cm.split(",") : DEFAULT_METHODS;
  const boxes = clear($("#compare-methods"));
  for (const method of app.explainMethods()) {
    boxes.append(el("label", {}, el("input", { type: "checkbox", value: method.name, checked: wanted.includes(method.name) }), method.name));
  }
  clear($("#compare"));
  clear($("#compare-code"));
}

export async function run() {
  if (!app.ready()) { showMessage("pick a model and an image first"); return; }
  const classes = [Number($("#compare-a").value), Number($("#compare-b").value)];
  const methods = chosenMethods();
  if (!methods.length) { showMessage("choose at least one method to compare"); return; }
  if (classes[0] === classes[1]) { showMessage("choose two different classes"); return; }
  app.save({ ca: classes[0], cb: classes[1], cm: methods.join(","), view: "compare", run: 1 });
  const list = clear($("#compare"));
  delete list.dataset.done;
  const params = Object.fromEntries(methods.filter((m) => app.state.methodParams[m]).map((m) => [m, app.state.methodParams[m]]));
  try {
    await postStream("/api/explain", { ...app.base(), methods, classes, params }, (line) => {
      if (line.methods) renderSnippets($("#compare-code"), line.snippets);
      else if (line.done) list.dataset.done = "1";
      else list.append(row(line));
    });
  } catch (error) {
    showMessage(error.message);
  }
}

export function init() {
  drawColourBar($("#compare-bar"));
  $("#compare-run").addEventListener("click", run);
}
