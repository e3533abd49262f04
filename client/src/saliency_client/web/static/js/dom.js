// Small DOM helpers. Text from servers and people goes in through textContent only, never as
// HTML, so a label or file name can never become markup.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function $(selector) {
  return document.querySelector(selector);
}

// Three significant figures; exponents for very small or large magnitudes.
export function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  const size = Math.abs(value);
  if (size !== 0 && (size < 1e-2 || size >= 1e4)) return value.toExponential(2);
  return Number(value.toPrecision(3)).toString();
}

export function percent(value) {
  return value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)} %`;
}

// ε as people write it: 8/255 when it is a multiple of 1/255.
export function epsText(value) {
  if (value === null || value === undefined) return "—";
  const steps = value * 255;
  if (value > 0 && value < 1 && Math.abs(steps - Math.round(steps)) < 1e-6) {
    return `${Math.round(steps)}/255`;
  }
  return fmt(value);
}

export function parseEps(text) {
  const [top, bottom] = text.trim().split("/");
  const value = bottom === undefined ? Number(top) : Number(top) / Number(bottom);
  if (!Number.isFinite(value)) throw new Error(`'${text.slice(0, 20)}' is not a number or a fraction like 8/255`);
  return value;
}

let messageTimer = null;

// A message for the person: errors from servers arrive here as text, never as stack traces.
export function showMessage(text, kind = "error") {
  const box = $("#message");
  clear(box);
  box.className = `message ${kind}`;
  box.append(el("span", { text }), el("button", { type: "button", className: "close", "aria-label": "close", text: "×" }));
  box.querySelector("button").addEventListener("click", () => { box.hidden = true; });
  box.hidden = false;
  clearTimeout(messageTimer);
  if (kind !== "error") messageTimer = setTimeout(() => { box.hidden = true; }, 4000);
}

export function hideMessage() {
  $("#message").hidden = true;
}
