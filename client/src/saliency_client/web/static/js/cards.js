// One method's card: its map on the signed scale, name, parameters, diagnostics, time taken,
// a drawer to change its parameters, and its Python/CLI snippets.
import { app } from "./app.js";
import { drawMap, drawPicture } from "./colour.js";
import { el, fmt, percent } from "./dom.js";
import { snippetDrawer } from "./code.js";

export const PANEL = 256; // CSS pixels a side: a 64-px input becomes readable

const HIDDEN_PARAMS = new Set(["return_attributions"]);

export function canvas(label) {
  return el("canvas", { width: PANEL, height: PANEL, className: "map", "aria-label": label });
}

// Draw one explanation into `target`: the method's own picture if it makes one, else its map.
export async function render(target, imageUrl, explanation, scale, opacity) {
  if (explanation.image) await drawPicture(target, explanation.image);
  else if (explanation.heatmap) await drawMap(target, imageUrl, explanation, scale, opacity);
  target.dataset.rendered = "1";
}

export function diagnostics(values) {
  const list = el("dl", { className: "diagnostics" });
  for (const [name, value] of Object.entries(values ?? {})) {
    const shown = name === "relative_completeness_gap" || name === "target_probability" ? percent(value) : fmt(value);
    list.append(el("dt", { text: name.replaceAll("_", " ") }), el("dd", { text: shown }));
  }
  return list;
}

function input(spec, value) {
  const name = spec.name;
  if (spec.type === "flag") return el("input", { type: "checkbox", name, checked: Boolean(value) });
  if (spec.choices.length) {
    return el("select", { name }, spec.choices.map((c) => el("option", { value: c, selected: c === value, text: c })));
  }
  if (name === "layer" && app.model?.layers?.length) {
    const options = [el("option", { value: "", text: `default (${app.model.default_cam_layer})` })];
    for (const layer of app.model.layers) options.push(el("option", { value: layer, selected: layer === value, text: layer }));
    return el("select", { name }, options);
  }
  if (spec.type === "integer" || spec.type === "number") {
    return el("input", {
      type: "number", name, value: value ?? "", min: spec.minimum ?? undefined, max: spec.maximum ?? undefined,
      step: spec.type === "integer" ? 1 : "any",
    });
  }
  return el("input", { type: "text", name, value: value ?? "", maxlength: 200 });
}

// The parameter drawer: every parameter with its bounds; submitting gives the values that
// differ from the defaults.
export function drawer(method, chosen, onApply, exclude = []) {
  const info = app.method(method);
  const form = el("form", { className: "params-form" });
  const shown = (info?.params ?? []).filter((spec) => !HIDDEN_PARAMS.has(spec.name) && spec.type !== "tensor" && !exclude.includes(spec.name));
  for (const spec of shown) {
    const value = chosen[spec.name] ?? spec.default;
    const bounds = spec.minimum !== null && spec.maximum !== null ? ` (${fmt(spec.minimum)}…${fmt(spec.maximum)})` : "";
    form.append(el("label", { title: spec.description }, el("span", { text: `${spec.name}${bounds}` }), input(spec, value)));
  }
  form.append(el("button", { type: "submit", text: "Recompute" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const changed = {};
    for (const spec of shown) {
      const field = form.elements.namedItem(spec.name);
      if (!field) continue;
      let value;
      if (spec.type === "flag") value = field.checked;
      else if (spec.type === "integer" || spec.type === "number") value = field.value === "" ? null : Number(field.value);
      else value = field.value === "" ? null : field.value;
      if (value !== null && value !== spec.default) changed[spec.name] = value;
    }
    onApply(changed);
  });
  return el("details", { className: "drawer" }, el("summary", { text: "Parameters" }), form);
}

function paramsLine(params) {
  const entries = Object.entries(params ?? {});
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(", ") : "defaults";
}

// A gallery card for one method's answer (or its pending state).
export function card(method, entry, options) {
  const info = app.method(method);
  const status = entry?.status ?? "pending";
  const node = el("article", { className: `map-card ${status}`, dataset: { method, status } });
  const head = el("header", {}, el("h3", { text: method, title: info?.description ?? "" }),
    el("span", { className: "time", text: entry ? `${entry.seconds.toFixed(2)} s` : "…" }));
  node.append(head);
  if (status === "pending") {
    node.append(el("div", { className: "placeholder", text: "computing…" }));
    return node;
  }
  if (status === "not_applicable") {
    node.append(el("p", { className: "reason", text: `Not applicable to this model: ${entry.reason}` }));
  } else if (status === "error") {
    node.append(el("p", { className: "reason error", text: `${entry.code?.toLowerCase().replaceAll("_", " ")}: ${entry.error}` }));
  } else {
    const explanation = entry.explanations[0];
    const picture = canvas(`${method} map`);
    node.append(picture);
    options.draw(picture, explanation);
    const zero = explanation.scale === 0;
    node.append(el("p", { className: zero ? "scale zero" : "scale", text: zero ? "the map is zero everywhere" : `scale ±${fmt(explanation.scale)}` }));
    node.append(diagnostics(explanation.diagnostics));
  }
  node.append(el("p", { className: "params", text: `parameters: ${paramsLine(entry.params)}` }));
  node.append(drawer(method, app.state.methodParams[method] ?? {}, (changed) => options.recompute(method, changed)));
  node.append(snippetDrawer(entry.snippets));
  return node;
}
