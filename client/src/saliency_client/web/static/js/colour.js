// Maps drawn on one signed colour scale, the figures' own (saliency_client.figures): blue below
// zero, no colour at zero, red above, full colour at ±scale. Colour is laid over the image in
// light grey, so the map's colours never mix with the image's own.

// matplotlib's RdBu_r (ColorBrewer RdBu, reversed), from −1 to +1.
const STOPS = [
  [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
  [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31],
];

export function colour(level) {
  const position = (Math.max(-1, Math.min(1, level)) + 1) / 2 * (STOPS.length - 1);
  const low = Math.min(Math.floor(position), STOPS.length - 2);
  const t = position - low;
  return STOPS[low].map((c, i) => c + t * (STOPS[low + 1][i] - c));
}

export function decode(array) {
  const bytes = Uint8Array.from(atob(array.data), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

const images = new Map();

export function loadImage(url) {
  if (!images.has(url)) {
    images.set(url, new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => { images.delete(url); reject(new Error("the picture did not load")); };
      image.src = url;
    }));
  }
  return images.get(url);
}

function pixelsOf(image, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
}

function show(canvas, source) {
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  return context;
}

// Draw `explanation.heatmap` over the picture at `imageUrl`, on ±scale, colour opacity at most
// `opacity`. A map that is zero everywhere leaves the grey picture.
export async function drawMap(canvas, imageUrl, explanation, scale, opacity) {
  const image = await loadImage(imageUrl);
  const [height, width] = explanation.heatmap.shape;
  const values = decode(explanation.heatmap);
  const frame = pixelsOf(image, width, height);
  const out = frame.data;
  for (let i = 0; i < values.length; i += 1) {
    const level = scale > 0 && Number.isFinite(values[i]) ? Math.max(-1, Math.min(1, values[i] / scale)) : 0;
    const alpha = opacity * Math.abs(level);
    const [r, g, b] = colour(level);
    const luma = 0.299 * out[4 * i] + 0.587 * out[4 * i + 1] + 0.114 * out[4 * i + 2];
    const grey = 0.3 * 255 + 0.55 * luma;
    out[4 * i] = (1 - alpha) * grey + alpha * r;
    out[4 * i + 1] = (1 - alpha) * grey + alpha * g;
    out[4 * i + 2] = (1 - alpha) * grey + alpha * b;
    out[4 * i + 3] = 255;
  }
  const layer = new OffscreenCanvas(width, height);
  layer.getContext("2d").putImageData(frame, 0, 0);
  const context = show(canvas, layer);
  if (explanation.box) {
    const [x0, y0, x1, y1] = explanation.box;
    const sx = canvas.width / width;
    const sy = canvas.height / height;
    context.strokeStyle = "#111";
    context.lineWidth = 2;
    context.strokeRect(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
  }
}

export async function drawPicture(canvas, url) {
  show(canvas, await loadImage(url));
}

export function drawColourBar(canvas) {
  const context = canvas.getContext("2d");
  for (let x = 0; x < canvas.width; x += 1) {
    const [r, g, b] = colour((x / (canvas.width - 1)) * 2 - 1);
    context.fillStyle = `rgb(${r}, ${g}, ${b})`;
    context.fillRect(x, 0, 1, canvas.height);
  }
}
