// The attack panel: an adversarial example at ε, the perturbation made visible, the labels
// torch and ONNX Runtime give it, and one method's maps before and after.
import { app } from "./app.js";
import { postJSON } from "./api.js";
import { canvas, drawer, render } from "./cards.js";
import { renderSnippets } from "./code.js";
import { drawColourBar } from "./colour.js";
import { $, clear, el, epsText, fmt, showMessage } from "./dom.js";

function spec(method, name) {
  return app.method(method)?.params.find((p) => p.name === name);
}

// ε on a slider: in 1/255 for L∞ budgets (at most 1), in plain units for L2 ones.
function setUpEps(method, wanted) {
  const slider = $("#attack-eps");
  const eps = spec(method, "eps");
  slider.disabled = !eps;
  if (!eps) { $("#attack-eps-value").textContent = "this attack has no ε budget"; return; }
  const linf = eps.maximum !== null && eps.maximum <= 1;
  slider.dataset.unit = linf ? "255" : "1";
  slider.min = 0;
  slider.max = linf ? 32 : 5;
  slider.step = linf ? 0.5 : 0.05;
  const value = wanted ?? eps.default;
  slider.value = linf ? value * 255 : value;
  showEps();
}

function epsValue() {
  const slider = $("#attack-eps");
  return slider.dataset.unit === "255" ? Number(slider.value) / 255 : Number(slider.value);
}

function showEps() {
  const value = epsValue();
  $("#attack-eps-value").textContent = `ε = ${epsText(value)}${$("#attack-eps").dataset.unit === "255" ? ` (${fmt(value)})` : ""}`;
}

function setUpMethod(method) {
  const steps = spec(method, "steps");
  $("#attack-steps").disabled = !steps;
  $("#attack-steps").value = app.state.steps ?? steps?.default ?? "";
  setUpEps(method, app.state.eps !== undefined ? Number(app.state.eps) : undefined);
  const holder = clear($("#attack-params"));
  holder.append(drawer(method, app.state.attackParams, (changed) => {
    app.state.attackParams = changed;
    app.save();
    run();
  }, ["eps", "steps"]));
}

export function onContext() {
  const methods = app.attackMethods().map((m) => m.name);
  const chosen = methods.includes(app.state.am) ? app.state.am : methods.includes("pgd") ? "pgd" : methods[0];
  const select = clear($("#attack-method"));
  for (const name of methods) select.append(el("option", { value: name, selected: name === chosen, text: name }));
  const maps = clear($("#attack-map-method"));
  const wantedMap = app.state.amap ?? "grad_cam";
  maps.append(el("option", { value: "", text: "no maps" }));
  for (const method of app.explainMethods()) maps.append(el("option", { value: method.name, selected: method.name === wantedMap, text: method.name }));
  if (chosen) setUpMethod(chosen);
  clear($("#attack-result"));
  clear($("#attack-code"));
}

function picture(url, caption, id) {
  return el("figure", {}, el("img", { src: url, alt: caption, id, className: "attack-picture" }), el("figcaption", { text: caption }));
}

function verdict(result) {
  const row = (name, value, id) => el("tr", {}, el("th", { text: name }), el("td", { id, text: value }));
  const label = (key) => `${result[key]} · ${result.labels[key]}`;
  return el("table", { className: "verdict" },
    row("label before", label("label_before"), "attack-before"),
    row("label after (torch)", label("label_after_torch"), "attack-after-torch"),
    row("label after (ONNX Runtime)", label("label_after_onnx"), "attack-after-onnx"),
    row("success (ONNX Runtime's verdict)", result.success ? "yes: the label flipped" : "no", "attack-success"),
    row("engines agree", result.engines_agree ? "yes" : "NO: torch and ONNX Runtime disagree", "attack-agree"),
    row("ε · L∞ · L2", `${epsText(result.eps)} · ${epsText(result.linf)} · ${fmt(result.l2)}`, "attack-norms"));
}

function maps(result) {
  const before = result.map_before;
  const after = result.map_after;
  const box = el("div", { className: "attack-maps" });
  const usable = [before, after].filter((m) => m.status === "ok");
  const scale = Math.max(0, ...usable.map((m) => m.explanation.scale));
  for (const [name, answer, url, id] of [["before", before, result.clean, "attack-map-before"], ["after", after, result.adversarial, "attack-map-after"]]) {
    if (answer.status !== "ok") {
      box.append(el("p", { className: "reason", text: `${name}: ${answer.reason ?? answer.error}` }));
      continue;
    }
    const target = canvas(`${result.map_method} ${name} the attack`);
    target.id = id;
    render(target, url, answer.explanation, scale, Number($("#opacity").value)).catch((error) => showMessage(error.message));
    box.append(el("figure", {}, target, el("figcaption", { text: `${name}: ${result.map_method} of ${answer.predicted.label}` })));
  }
  const bar = el("canvas", { width: 256, height: 12, className: "colour-bar" });
  drawColourBar(bar);
  box.append(el("div", { className: "bar-block" }, bar, el("p", { className: "bar-note", text: `one scale for both maps: ±${fmt(scale)}` })));
  return box;
}

export async function run() {
  if (!app.ready()) { showMessage("pick a model and an image first"); return; }
  const method = $("#attack-method").value;
  const params = { ...app.state.attackParams };
  if (spec(method, "eps")) params.eps = epsValue();
  if (spec(method, "steps") && $("#attack-steps").value !== "") params.steps = Number($("#attack-steps").value);
  const mapMethod = $("#attack-map-method").value;
  app.save({ am: method, eps: params.eps, steps: params.steps, amap: mapMethod, view: "attack", run: 1 });
  const box = clear($("#attack-result"));
  box.append(el("p", { className: "status", text: `running ${method}…` }));
  try {
    const result = await postJSON("/api/attack", { ...app.base(), method, params, map_method: mapMethod || null });
    clear(box);
    const amplified = result.amplification ? `perturbation × ${fmt(result.amplification)}` : "perturbation (none)";
    box.append(
      el("div", { className: "attack-pictures" }, picture(result.clean, "input (model size)", "attack-clean"), picture(result.adversarial, "adversarial", "attack-adv"), picture(result.perturbation, amplified, "attack-delta")),
      verdict(result),
    );
    if (result.map_method) box.append(maps(result));
    box.dataset.done = "1";
    renderSnippets($("#attack-code"), result.snippets);
  } catch (error) {
    clear(box);
    showMessage(error.message);
  }
}

export function init() {
  $("#attack-method").addEventListener("change", () => {
    app.state.attackParams = {};
    delete app.state.eps;
    delete app.state.steps;
    setUpMethod($("#attack-method").value);
  });
  $("#attack-eps").addEventListener("input", showEps);
  $("#attack-run").addEventListener("click", run);
}
