// The web server's JSON API. A failed call throws an ApiError whose message is the server's
// own words ("invalid argument: ..."), shown to the person as it is.

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const WORDS = {
  BAD_REQUEST: "bad request", TOO_LARGE: "too large", BAD_IMAGE: "bad image",
  INVALID_ARGUMENT: "invalid argument", NOT_FOUND: "not found", UNIMPLEMENTED: "not applicable",
  RESOURCE_EXHAUSTED: "server busy", UNAVAILABLE: "unavailable", DEADLINE_EXCEEDED: "too slow",
  UNAUTHENTICATED: "not authenticated", PERMISSION_DENIED: "permission denied",
  INTERNAL: "internal error",
};

export function describe(body, status) {
  const words = WORDS[body?.code] ?? (body?.code ? body.code.toLowerCase().replaceAll("_", " ") : `HTTP ${status}`);
  return new ApiError(`${words}: ${body?.error ?? "no details"}`, body?.code, status);
}

async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: the status alone says it */ }
  return describe(body, response.status);
}

export async function getJSON(url) {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// POST, then call onLine with each line of the NDJSON answer as it arrives. A line carrying an
// error ends the stream with that error.
export async function postStream(url, body, onLine, signal) {
  const response = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      const line = JSON.parse(pending.slice(0, end));
      pending = pending.slice(end + 1);
      if (line.error !== undefined && line.method === undefined) throw describe(line, 200);
      onLine(line);
    }
  }
}

export async function upload(file) {
  const response = await fetch("/api/images", {
    method: "POST",
    headers: { "x-file-name": encodeURIComponent(file.name), "content-type": file.type || "application/octet-stream" },
    body: file,
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}
