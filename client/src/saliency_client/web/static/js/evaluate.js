// The Evaluate panel: accuracy against ε for several attacks, judged by torch and by ONNX
// Runtime, with live progress from the server's stream.
import { app } from "./app.js";
import { postStream } from "./api.js";
import { renderSnippets } from "./code.js";
import { $, clear, el, epsText, fmt, parseEps, percent, showMessage } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const DEFAULT_EPS = "0, 1/255, 2/255, 4/255, 8/255";

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

// Accuracy (0..1) against ε, one colour per attack: torch solid with dots, ONNX Runtime dashed.
export function plot(report) {
  const chart = clear($("#evaluate-plot"));
  const [width, height] = [640, 360];
  const margin = { left: 56, right: 180, top: 16, bottom: 48 };
  const epsilons = report.curves.flatMap((c) => c.epsilons);
  const inSteps = epsilons.every((e) => Math.abs(e * 255 - Math.round(e * 255)) < 1e-6 && e <= 1);
  const xs = epsilons.map((e) => (inSteps ? e * 255 : e));
  const [low, high] = [Math.min(...xs), Math.max(...xs)];
  const x = (value) => margin.left + ((value - low) / ((high - low) || 1)) * (width - margin.left - margin.right);
  const y = (value) => margin.top + (1 - value) * (height - margin.top - margin.bottom);
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  for (const level of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(level), y2: y(level), class: "grid" }));
    chart.append(svg("text", { x: margin.left - 8, y: y(level) + 4, "text-anchor": "end", class: "tick" }, `${level * 100}%`));
  }
  for (const value of [...new Set(xs)]) {
    chart.append(svg("text", { x: x(value), y: height - margin.bottom + 18, "text-anchor": "middle", class: "tick" }, fmt(value)));
  }
  chart.append(svg("text", { x: (margin.left + width - margin.right) / 2, y: height - 8, "text-anchor": "middle", class: "axis" }, inSteps ? "ε (L∞ budget, in 1/255)" : "ε"));
  chart.append(svg("text", { x: 14, y: height / 2, transform: `rotate(-90 14 ${height / 2})`, "text-anchor": "middle", class: "axis" }, "accuracy"));
  if (report.clean_accuracy !== null) {
    chart.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(report.clean_accuracy), y2: y(report.clean_accuracy), class: "clean" }));
  }
  const legend = (row, colour, dashed, text) => {
    const top = margin.top + 10 + row * 18;
    chart.append(svg("line", { x1: width - margin.right + 12, x2: width - margin.right + 36, y1: top, y2: top, stroke: colour, class: dashed ? "legend dashed" : "legend" }));
    chart.append(svg("text", { x: width - margin.right + 42, y: top + 4, class: "tick" }, text));
  };
  report.curves.forEach((curve, index) => {
    const colour = COLOURS[index % COLOURS.length];
    // ONNX Runtime first, as rings, so that torch's dots show inside them where both agree.
    for (const [values, engine] of [[curve.onnx_accuracy, "onnx"], [curve.accuracy, "torch"]]) {
      const points = curve.epsilons.map((e, i) => [x(inSteps ? e * 255 : e), values[i]]).filter(([, v]) => v !== null);
      const path = points.map(([px, v], i) => `${i ? "L" : "M"}${px.toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      chart.append(svg("path", { d: path, stroke: colour, class: `curve ${engine}`, "data-attack": curve.attack }));
      for (const [px, v] of points) {
        const ring = engine === "onnx";
        chart.append(svg("circle", { cx: px, cy: y(v), r: ring ? 6 : 3, stroke: colour, fill: ring ? "white" : colour, class: `point ${engine}` }));
      }
    }
    legend(2 * index, colour, false, `${curve.attack} (torch)`);
    legend(2 * index + 1, colour, true, `${curve.attack} (ONNX Runtime)`);
  });
  legend(2 * report.curves.length, "#888", true, `clean ${percent(report.clean_accuracy)}`);
  chart.dataset.done = "1";
}

function table(report) {
  const body = el("tbody");
  for (const curve of report.curves) {
    curve.epsilons.forEach((eps, i) => body.append(el("tr", {}, el("td", { text: curve.attack }), el("td", { text: epsText(eps) }), el("td", { text: percent(curve.accuracy[i]) }), el("td", { text: percent(curve.onnx_accuracy[i]) }))));
  }
  const rows = [el("table", { className: "numbers" }, el("thead", {}, el("tr", {}, ["attack", "ε", "accuracy (torch)", "accuracy (ONNX Runtime)"].map((h) => el("th", { text: h })))), body)];
  for (const s of report.stability) {
    rows.push(el("p", { text: `${s.method} under ${s.attack} at ε ${epsText(s.eps)}: mean Spearman ${fmt(s.mean_spearman)}, mean SSIM ${fmt(s.mean_ssim)} over ${s.flipped} flipped images` }));
  }
  return rows;
}

export function onContext() {
  const wanted = app.state.ea ? app.state.ea.split(",") : ["fgsm", "pgd"];
  const boxes = clear($("#evaluate-attacks"));
  for (const method of app.attackMethods().filter((m) => m.params.some((p) => p.name === "eps"))) {
    boxes.append(el("label", {}, el("input", { type: "checkbox", value: method.name, checked: wanted.includes(method.name) }), method.name));
  }
  const stability = clear($("#evaluate-stability"));
  stability.append(el("option", { value: "", text: "none" }));
  for (const method of app.explainMethods()) stability.append(el("option", { value: method.name, selected: method.name === app.state.est, text: method.name }));
  $("#evaluate-eps").value = app.state.ee ?? DEFAULT_EPS;
  $("#evaluate-steps").value = app.state.es ?? 10;
  $("#evaluate-images").value = app.state.eimg ?? "demo";
  clear($("#evaluate-plot"));
  clear($("#evaluate-table"));
  clear($("#evaluate-code"));
}

export async function run() {
  if (!app.ready()) { showMessage("pick a model and an image first"); return; }
  const attacks = [...document.querySelectorAll("#evaluate-attacks input:checked")].map((box) => box.value);
  let epsilons;
  try {
    epsilons = $("#evaluate-eps").value.split(",").filter((t) => t.trim()).map(parseEps);
  } catch (error) { showMessage(error.message); return; }
  const steps = Number($("#evaluate-steps").value);
  const images = $("#evaluate-images").value === "demo" ? "demo" : [app.image.id];
  const stability = $("#evaluate-stability").value ? [$("#evaluate-stability").value] : [];
  app.save({ ea: attacks.join(","), ee: $("#evaluate-eps").value, es: steps, eimg: $("#evaluate-images").value, est: stability[0] ?? "", view: "evaluate", run: 1 });
  const params = {};
  for (const name of attacks) if (app.method(name).params.some((p) => p.name === "steps")) params[name] = { steps };
  clear($("#evaluate-plot"));
  clear($("#evaluate-table"));
  const bar = $("#evaluate-progress");
  bar.value = 0;
  bar.hidden = false;
  try {
    await postStream("/api/evaluate", { target: app.targetName, model: app.model.name, images, attacks, params, epsilons, stability }, (line) => {
      if (line.labels) {
        $("#evaluate-stage").textContent = `${line.images.length} images, labelled by ${line.label_source}`;
        renderSnippets($("#evaluate-code"), line.snippets);
      } else if (line.progress !== undefined) {
        bar.value = line.progress;
        $("#evaluate-stage").textContent = `${Math.round(100 * line.progress)} % · ${line.stage}`;
      } else if (line.report) {
        plot(line.report);
        $("#evaluate-table").append(...table(line.report));
      }
    });
  } catch (error) {
    showMessage(error.message);
  }
}

export function init() {
  $("#evaluate-run").addEventListener("click", run);
}
