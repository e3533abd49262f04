// The page's state lives in its URL, so every view has a permalink: the address bar always
// names the server, model, image, view and every choice made in it.

const params = () => new URLSearchParams(window.location.search);

export function read() {
  const query = params();
  const state = { methodParams: {}, attackParams: {} };
  for (const [key, value] of query) {
    if (key.startsWith("p.")) {
      const [, method, name] = key.split(".");
      if (method && name) (state.methodParams[method] ??= {})[name] = parseValue(value);
    } else if (key.startsWith("ap.")) {
      state.attackParams[key.slice(3)] = parseValue(value);
    } else {
      state[key] = value;
    }
  }
  return state;
}

function parseValue(text) {
  if (text === "true" || text === "false") return text === "true";
  if (text !== "" && Number.isFinite(Number(text))) return Number(text);
  return text;
}

// Replace the URL's state with `state` (keys with empty values dropped).
export function write(state) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) {
    if (key === "methodParams") {
      for (const [method, given] of Object.entries(value)) {
        for (const [name, item] of Object.entries(given)) query.set(`p.${method}.${name}`, String(item));
      }
    } else if (key === "attackParams") {
      for (const [name, item] of Object.entries(value)) query.set(`ap.${name}`, String(item));
    } else if (value !== undefined && value !== null && value !== "") {
      query.set(key, String(value));
    }
  }
  const url = `${window.location.pathname}?${query}`;
  window.history.replaceState(null, "", url);
  return new URL(url, window.location.origin).href;
}
