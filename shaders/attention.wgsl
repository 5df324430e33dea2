// Causal grouped-query attention over the KV cache.
// Row r (cache slot rows[2r], position rows[2r+1]) and query head h attend to cache positions 0..pos
// of kv head h / (nH / nKV). Scale 1/√hd. One workgroup per (row, head).
//   att[r, h, t] = softmax_t(q[r, h] · k[slot, kvh, t] · scale)      t ≤ pos
//   out[r, h, :] = Σ_t att[r, h, t] · v[slot, kvh, t, :]
// q, out: [N, nH, hd]   caches: [slots, nKV, maxLen, hd]   att: [N, nH, maxLen]
// Saved for backward (training): att (the normalised probabilities).

struct Params { N: u32, nH: u32, nKV: u32, hd: u32, maxLen: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rows: array<u32>;          // [N, 2]
@group(0) @binding(2) var<storage, read> q: array<f32>;             // [N, nH, hd]
@group(0) @binding(3) var<storage, read> kCache: array<f32>;        // [slots, nKV, maxLen, hd]
@group(0) @binding(4) var<storage, read> vCache: array<f32>;        // [slots, nKV, maxLen, hd]
@group(0) @binding(5) var<storage, read_write> att: array<f32>;     // [N, nH, maxLen]
@group(0) @binding(6) var<storage, read_write> out: array<f32>;     // [N, nH, hd]

const WG: u32 = 256u;
var<workgroup> red: array<f32, WG>;
var<workgroup> qs: array<f32, 256>;  // q[r, h, :], hd ≤ 256

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let r = wg.y;
  if (r >= p.N) { return; }
  let slot = rows[2u * r];
  let pos = rows[2u * r + 1u];
  let kvh = h / (p.nH / p.nKV);
  let qBase = (r * p.nH + h) * p.hd;
  let cBase = (slot * p.nKV + kvh) * p.maxLen * p.hd;
  let aBase = (r * p.nH + h) * p.maxLen;
  for (var d = t; d < p.hd; d += WG) { qs[d] = q[qBase + d]; }
  workgroupBarrier();

  // scores, one position per thread at a time
  var m = -3.4e38;
  for (var j = t; j <= pos; j += WG) {
    var s = 0.0;
    let kb = cBase + j * p.hd;
    for (var d = 0u; d < p.hd; d++) { s += qs[d] * kCache[kb + d]; }
    s *= p.scale;
    att[aBase + j] = s;
    m = max(m, s);
  }
  red[t] = m;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { red[t] = max(red[t], red[t + k]); }
    workgroupBarrier();
  }
  m = red[0];
  workgroupBarrier();

  var sum = 0.0;
  for (var j = t; j <= pos; j += WG) {
    let e = exp(att[aBase + j] - m);
    att[aBase + j] = e;
    sum += e;
  }
  red[t] = sum;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { red[t] += red[t + k]; }
    workgroupBarrier();
  }
  let inv = 1.0 / red[0];
  storageBarrier();
  workgroupBarrier();

  for (var j = t; j <= pos; j += WG) { att[aBase + j] *= inv; }
  storageBarrier();
  workgroupBarrier();

  // weighted sum of values: thread t owns dim d = t % hd for positions j ≡ g (mod G),
  // G = ⌊WG / hd⌋ groups; the G partial sums are then added in workgroup memory.
  let G = max(1u, WG / p.hd);
  let d = t % p.hd;
  let g = t / p.hd;
  var acc = 0.0;
  if (g < G) {
    for (var j = g; j <= pos; j += G) { acc += att[aBase + j] * vCache[cBase + j * p.hd + d]; }
  }
  red[t] = acc;
  workgroupBarrier();
  if (g == 0u) {   // hd ≤ WG (checked on the host), so the first group covers every dim
    var total = 0.0;
    for (var gg = 0u; gg < G; gg++) { total += red[gg * p.hd + d]; }
    out[qBase + d] = total;
  }
}
