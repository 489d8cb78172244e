// Channels-last (the IR, tfjs) ↔ channels-first (ONNX inputs and outputs) for [N, H, W, C] arrays.

export function nhwcToNchw(v: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < h * w; i++)
      for (let k = 0; k < c; k++) out[(b * c + k) * h * w + i] = v[(b * h * w + i) * c + k] ?? 0;
  return out;
}

export function nchwToNhwc(v: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < h * w; i++)
      for (let k = 0; k < c; k++) out[(b * h * w + i) * c + k] = v[(b * c + k) * h * w + i] ?? 0;
  return out;
}
