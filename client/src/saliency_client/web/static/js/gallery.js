// The gallery: every explanation method the server offers, for one class of the image, in one
// go (one Explain per method, concurrently, on the web server); each card fills as its answer
// arrives.
import { app } from "./app.js";
import { postStream } from "./api.js";
import { card, render } from "./cards.js";
import { renderSnippets } from "./code.js";
import { drawColourBar } from "./colour.js";
import { $, clear, el, fmt, showMessage } from "./dom.js";

const answers = new Map(); // method → its latest answer

function scaleOf(explanation) {
  if ($("#scale-mode").value !== "shared") return explanation.scale;
  let largest = 0;
  for (const entry of answers.values()) {
    for (const found of entry.explanations ?? []) largest = Math.max(largest, found.scale);
  }
  return largest;
}

function opacity() {
  return Number($("#opacity").value);
}

function caption() {
  const shared = $("#scale-mode").value === "shared";
  const largest = shared ? scaleOf({ scale: 0 }) : null;
  $("#gallery-bar-low").textContent = shared ? `−${fmt(largest)}` : "−scale";
  $("#gallery-bar-high").textContent = shared ? `+${fmt(largest)}` : "+scale";
  $("#gallery-bar-note").textContent = shared
    ? "one scale for every map: the largest of their scales"
    : "each map on its own scale (± under its name): blue negative, red positive";
}

function options() {
  return {
    draw: (canvas, explanation) => {
      render(canvas, app.image.url, explanation, scaleOf(explanation), opacity())
        .catch((error) => showMessage(error.message));
    },
    recompute: (method, changed) => {
      if (Object.keys(changed).length) app.state.methodParams[method] = changed;
      else delete app.state.methodParams[method];
      app.save();
      run([method]);
    },
  };
}

function place(method, entry) {
  const grid = $("#gallery");
  const fresh = card(method, entry, options());
  const old = grid.querySelector(`[data-method="${CSS.escape(method)}"]`);
  if (old) old.replaceWith(fresh);
  else grid.append(fresh);
}

function redraw() {
  caption();
  for (const [method, entry] of answers) if (entry.status === "ok") place(method, entry);
}

export function onContext() {
  const select = $("#gallery-class");
  clear(select);
  const predicted = app.top[0]?.index ?? 0;
  const chosen = app.state.c !== undefined ? Number(app.state.c) : predicted;
  (app.model?.labels ?? []).forEach((label, index) => {
    select.append(el("option", { value: index, selected: index === chosen, text: `${index} · ${label}${index === predicted ? " (predicted)" : ""}` }));
  });
  answers.clear();
  clear($("#gallery"));
  clear($("#gallery-code"));
  $("#gallery-status").textContent = "";
}

// Compute `methods` (all by default) for the chosen class.
export async function run(methods = null) {
  if (!app.ready()) { showMessage("pick a model and an image first"); return; }
  const target = Number($("#gallery-class").value);
  app.save({ c: target, view: "gallery", run: 1 });
  const names = methods ?? app.explainMethods().map((m) => m.name);
  if (!methods) { answers.clear(); clear($("#gallery")); }
  delete $("#gallery").dataset.done;
  for (const name of names) place(name, null);
  $("#gallery-status").textContent = `computing ${names.length} method${names.length > 1 ? "s" : ""} for class ${app.label(target)}…`;
  const params = Object.fromEntries(names.filter((m) => app.state.methodParams[m]).map((m) => [m, app.state.methodParams[m]]));
  try {
    await postStream("/api/explain", {
      ...app.base(), methods: methods ?? "all", classes: [target], params,
    }, (line) => {
      if (line.snippets && line.methods) { if (!methods) renderSnippets($("#gallery-code"), line.snippets); return; }
      if (line.done) {
        const counts = [...answers.values()].reduce((n, e) => ({ ...n, [e.status]: (n[e.status] ?? 0) + 1 }), {});
        $("#gallery-status").textContent = `${counts.ok ?? 0} maps, ${counts.not_applicable ?? 0} not applicable, ${counts.error ?? 0} failed; ${line.seconds.toFixed(1)} s in all`;
        $("#gallery").dataset.done = "1";
        return;
      }
      answers.set(line.method, line);
      if ($("#scale-mode").value === "shared") redraw(); else place(line.method, line);
    });
  } catch (error) {
    $("#gallery-status").textContent = "";
    showMessage(error.message);
  }
}

export function init() {
  drawColourBar($("#gallery-bar"));
  caption();
  $("#gallery-run").addEventListener("click", () => run());
  $("#scale-mode").addEventListener("change", () => { app.save({ scale: $("#scale-mode").value }); redraw(); });
  $("#opacity").addEventListener("change", () => { app.save({ opacity: $("#opacity").value }); redraw(); });
  if (app.state.scale) $("#scale-mode").value = app.state.scale;
  if (app.state.opacity) $("#opacity").value = app.state.opacity;
}
