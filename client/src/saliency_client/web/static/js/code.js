// "Do it from code": each view's Python client call and `saliency` command, with copy buttons.
import { clear, el } from "./dom.js";

function block(title, text, kind) {
  const code = el("code", { className: kind, text });
  const copy = el("button", { type: "button", className: "copy", text: "Copy" });
  copy.addEventListener("click", () => {
    navigator.clipboard?.writeText(text).then(
      () => { copy.textContent = "Copied"; },
      () => { copy.textContent = "Select and copy"; },
    );
  });
  return el("div", { className: "snippet" }, el("div", { className: "snippet-head" }, el("h4", { text: title }), copy), el("pre", {}, code));
}

export function renderSnippets(container, snippets) {
  clear(container);
  if (!snippets) return;
  container.append(block("Python", snippets.python, "python"), block("CLI", snippets.cli, "cli"));
}

// A collapsed variant for cards.
export function snippetDrawer(snippets) {
  const body = el("div", { className: "snippets" });
  renderSnippets(body, snippets);
  return el("details", { className: "code" }, el("summary", { text: "Python · CLI" }), body);
}
