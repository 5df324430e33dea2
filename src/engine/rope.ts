// RoPE cos/sin table, computed once in float64 on the CPU (GPU sin/cos lose accuracy on large
// angles): inv_freq[i] = theta^(−2i/hd), angle = pos · inv_freq[i].  Layout [T, hd/2, 2] (cos, sin).

export function ropeTable(maxLen: number, hd: number, theta: number): Float32Array {
  const half = hd / 2;
  const out = new Float32Array(maxLen * hd);
  for (let pos = 0; pos < maxLen; pos++) {
    for (let i = 0; i < half; i++) {
      const a = pos * Math.pow(theta, (-2 * i) / hd);
      out[2 * (pos * half + i)] = Math.cos(a);
      out[2 * (pos * half + i) + 1] = Math.sin(a);
    }
  }
  return out;
}
