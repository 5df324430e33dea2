// Causal grouped-query attention over the KV cache.
// Row r (cache slot rows[2r], position rows[2r+1]) and query head h attend to cache positions
// starts[r]..pos of kv head h / (nH / nKV). Scale 1/√hd. One workgroup per (row, head).
// starts[r] is 0 except in packed training rows, where it is the position at which row r's own
// conversation begins: conversations sharing a row never see each other (a block-diagonal causal
// mask). RoPE scores depend only on position differences, so this equals each conversation alone.
//   att[r, h, t] = softmax_t(q[r, h] · k[slot, kvh, t] · scale)      start ≤ t ≤ pos
//   att[r, h, t] = 0                                                  t < start
//   out[r, h, :] = Σ_t att[r, h, t] · v[slot, kvh, t, :]
// q, out: [N, nH, hd]   caches: [slots, nKV, maxLen, hd]   att: [N, nH, maxLen]   starts: [N]
// Saved for backward (training): att (the normalised probabilities; the zeros before start make
// the backward entries below mask-aware without knowing about starts).

struct Params { N: u32, nH: u32, nKV: u32, hd: u32, maxLen: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rows: array<u32>;          // [N, 2]
@group(0) @binding(2) var<storage, read> q: array<f32>;             // [N, nH, hd]
@group(0) @binding(3) var<storage, read> kCache: array<f32>;        // [slots, nKV, maxLen, hd]
@group(0) @binding(4) var<storage, read> vCache: array<f32>;        // [slots, nKV, maxLen, hd]
@group(0) @binding(5) var<storage, read_write> att: array<f32>;     // [N, nH, maxLen]
@group(0) @binding(6) var<storage, read_write> out: array<f32>;     // [N, nH, hd]
@group(0) @binding(7) var<storage, read> starts: array<u32>;        // [N] (forward entries only)

const WG: u32 = 256u;
var<workgroup> red: array<f32, WG>;
var<workgroup> qs: array<f32, 256>;  // q[r, h, :], hd ≤ 256

/** Where row r, head h reads and writes: its position, q/out, cache and att offsets. */
struct RowAt { pos: u32, qBase: u32, cBase: u32, aBase: u32 }
fn rowAt(r: u32, h: u32) -> RowAt {
  let slot = rows[2u * r];
  let kvh = h / (p.nH / p.nKV);
  return RowAt(rows[2u * r + 1u], (r * p.nH + h) * p.hd, (slot * p.nKV + kvh) * p.maxLen * p.hd, (r * p.nH + h) * p.maxLen);
}

/** Workgroup-wide sum and max of one value per thread (call from uniform control flow). */
fn sumAll(t: u32, v: f32) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { red[t] += red[t + k]; }
    workgroupBarrier();
  }
  let s = red[0];
  workgroupBarrier();
  return s;
}
fn maxAll(t: u32, v: f32) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { red[t] = max(red[t], red[t + k]); }
    workgroupBarrier();
  }
  let s = red[0];
  workgroupBarrier();
  return s;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let r = wg.y;
  if (r >= p.N) { return; }
  let at = rowAt(r, h);
  let pos = at.pos;
  let qBase = at.qBase;
  let cBase = at.cBase;
  let aBase = at.aBase;
  for (var d = t; d < p.hd; d += WG) { qs[d] = q[qBase + d]; }
  workgroupBarrier();

  let start = min(starts[r], pos);
  for (var j = t; j < start; j += WG) { att[aBase + j] = 0.0; }

  // scores, one position per thread at a time
  var m = -3.4e38;
  for (var j = start + t; j <= pos; j += WG) {
    var s = 0.0;
    let kb = cBase + j * p.hd;
    for (var d = 0u; d < p.hd; d++) { s += qs[d] * kCache[kb + d]; }
    s *= p.scale;
    att[aBase + j] = s;
    m = max(m, s);
  }
  m = maxAll(t, m);

  var sum = 0.0;
  for (var j = start + t; j <= pos; j += WG) {
    let e = exp(att[aBase + j] - m);
    att[aBase + j] = e;
    sum += e;
  }
  let inv = 1.0 / sumAll(t, sum);
  storageBarrier();
  workgroupBarrier();

  for (var j = start + t; j <= pos; j += WG) { att[aBase + j] *= inv; }
  storageBarrier();
  workgroupBarrier();

  // weighted sum of values: thread t owns dim d = t % hd for positions j ≡ g (mod G),
  // G = ⌊WG / hd⌋ groups; the G partial sums are then added in workgroup memory.
  let G = max(1u, WG / p.hd);
  let d = t % p.hd;
  let g = t / p.hd;
  var acc = 0.0;
  if (g < G) {
    for (var j = start + g; j <= pos; j += G) { acc += att[aBase + j] * vCache[cBase + j * p.hd + d]; }
  }
  red[t] = acc;
  workgroupBarrier();
  if (g == 0u) {   // hd ≤ WG (checked on the host), so the first group covers every dim
    var total = 0.0;
    for (var gg = 0u; gg < G; gg++) { total += red[gg * p.hd + d]; }
    out[qBase + d] = total;
  }
}

// forward for software adapters (SwiftShader emulates barriers and workgroup memory at great
// cost): one thread per (row, head), no barriers. Grid [nH, ⌈N / 64⌉]. On a CPU every storage
// load is a per-lane gather, so the loops go four at a time: four keys' scores share each q
// load, four output dims share each probability load (scalar tails).
@compute @workgroup_size(64)
fn forward_serial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let r = wg.y * 64u + t;
  if (r >= p.N) { return; }
  let at = rowAt(r, h);
  let start = min(starts[r], at.pos);
  let hd = p.hd;
  for (var j = 0u; j < start; j++) { att[at.aBase + j] = 0.0; }
  var m = -3.4e38;
  var j = start;
  for (; j + 3u <= at.pos; j += 4u) {
    let kb = at.cBase + j * hd;
    var s4 = vec4<f32>(0.0);
    for (var d = 0u; d < hd; d++) {
      let k4 = vec4<f32>(kCache[kb + d], kCache[kb + hd + d], kCache[kb + 2u * hd + d], kCache[kb + 3u * hd + d]);
      s4 += q[at.qBase + d] * k4;
    }
    s4 *= p.scale;
    att[at.aBase + j] = s4.x;
    att[at.aBase + j + 1u] = s4.y;
    att[at.aBase + j + 2u] = s4.z;
    att[at.aBase + j + 3u] = s4.w;
    m = max(m, max(max(s4.x, s4.y), max(s4.z, s4.w)));
  }
  for (; j <= at.pos; j++) {
    var s = 0.0;
    let kb = at.cBase + j * hd;
    for (var d = 0u; d < hd; d++) { s += q[at.qBase + d] * kCache[kb + d]; }
    s *= p.scale;
    att[at.aBase + j] = s;
    m = max(m, s);
  }
  var sum = 0.0;
  for (var j = start; j <= at.pos; j++) {
    let e = exp(att[at.aBase + j] - m);
    att[at.aBase + j] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var j = start; j <= at.pos; j++) { att[at.aBase + j] *= inv; }
  var d = 0u;
  for (; d + 4u <= hd; d += 4u) {
    var acc = vec4<f32>(0.0);
    for (var j = start; j <= at.pos; j++) {
      let vb = at.cBase + j * hd + d;
      acc += att[at.aBase + j] * vec4<f32>(vCache[vb], vCache[vb + 1u], vCache[vb + 2u], vCache[vb + 3u]);
    }
    out[at.qBase + d] = acc.x;
    out[at.qBase + d + 1u] = acc.y;
    out[at.qBase + d + 2u] = acc.z;
    out[at.qBase + d + 3u] = acc.w;
  }
  for (; d < hd; d++) {
    var acc = 0.0;
    for (var j = start; j <= at.pos; j++) { acc += att[at.aBase + j] * vCache[at.cBase + j * hd + d]; }
    out[at.qBase + d] = acc;
  }
}

// ---- Backward (training; rows are a padded batch: row = slot·maxLen + pos) ----
// With P = att (saved), dA[j] = dO · v[j]:
//   dS[j] = P[j] · (dA[j] − Σ_j' P[j'] dA[j'])          (softmax backward)
//   dq    = scale · Σ_j dS[j] · k[j]
//   dK[j] = scale · Σ_{rows p ≥ j, heads of the group} dS[p, h, j] · q[p, h]
//   dV[j] =         Σ_{rows p ≥ j, heads of the group} P[p, h, j] · dO[p, h]
// backward_q: one workgroup per (head, row) → dq, dS.  backward_kv: one per (position j, kv head,
// slot) → dK, dV in cache layout (a gather over rows, so no atomics).
@group(0) @binding(6) var<storage, read> dOut: array<f32>;          // [N, nH, hd]
@group(0) @binding(7) var<storage, read_write> dS: array<f32>;      // [N, nH, maxLen]
@group(0) @binding(8) var<storage, read_write> dq: array<f32>;      // [N, nH, hd]
@group(0) @binding(7) var<storage, read> dSr: array<f32>;           // [N, nH, maxLen]
@group(0) @binding(8) var<storage, read_write> dKc: array<f32>;     // [slots, nKV, maxLen, hd]
@group(0) @binding(9) var<storage, read_write> dVc: array<f32>;     // [slots, nKV, maxLen, hd]

var<workgroup> dos: array<f32, 256>;  // dO[r, h, :]

@compute @workgroup_size(WG)
fn backward_q(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let r = wg.y;
  if (r >= p.N) { return; }
  let at = rowAt(r, h);
  let pos = at.pos;
  let qBase = at.qBase;
  let cBase = at.cBase;
  let aBase = at.aBase;
  for (var d = t; d < p.hd; d += WG) { dos[d] = dOut[qBase + d]; }
  workgroupBarrier();
  var dot = 0.0;
  for (var j = t; j <= pos; j += WG) {
    var da = 0.0;
    let vb = cBase + j * p.hd;
    for (var d = 0u; d < p.hd; d++) { da += dos[d] * vCache[vb + d]; }
    dS[aBase + j] = da;
    dot += att[aBase + j] * da;
  }
  let total = sumAll(t, dot);
  for (var j = t; j <= pos; j += WG) { dS[aBase + j] = att[aBase + j] * (dS[aBase + j] - total); }
  storageBarrier();
  workgroupBarrier();
  let G = max(1u, WG / p.hd);
  let d = t % p.hd;
  let g = t / p.hd;
  var acc = 0.0;
  if (g < G) {
    for (var j = g; j <= pos; j += G) { acc += dS[aBase + j] * kCache[cBase + j * p.hd + d]; }
  }
  red[t] = acc;
  workgroupBarrier();
  if (g == 0u) {
    var s = 0.0;
    for (var gg = 0u; gg < G; gg++) { s += red[gg * p.hd + d]; }
    dq[qBase + d] = p.scale * s;
  }
}

// backward_q for software adapters: one thread per (row, head), no barriers, loops four at a
// time as in forward_serial. Grid [nH, ⌈N / 64⌉].
@compute @workgroup_size(64)
fn backward_q_serial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let r = wg.y * 64u + t;
  if (r >= p.N) { return; }
  let at = rowAt(r, h);
  let hd = p.hd;
  var pd = 0.0; // Σ_j P[j] dA[j]
  var j = 0u;
  for (; j + 3u <= at.pos; j += 4u) {
    let vb = at.cBase + j * hd;
    var da = vec4<f32>(0.0);
    for (var d = 0u; d < hd; d++) {
      let v4 = vec4<f32>(vCache[vb + d], vCache[vb + hd + d], vCache[vb + 2u * hd + d], vCache[vb + 3u * hd + d]);
      da += dOut[at.qBase + d] * v4;
    }
    dS[at.aBase + j] = da.x;
    dS[at.aBase + j + 1u] = da.y;
    dS[at.aBase + j + 2u] = da.z;
    dS[at.aBase + j + 3u] = da.w;
    let p4 = vec4<f32>(att[at.aBase + j], att[at.aBase + j + 1u], att[at.aBase + j + 2u], att[at.aBase + j + 3u]);
    pd += dot(p4, da);
  }
  for (; j <= at.pos; j++) {
    var da = 0.0;
    let vb = at.cBase + j * hd;
    for (var d = 0u; d < hd; d++) { da += dOut[at.qBase + d] * vCache[vb + d]; }
    dS[at.aBase + j] = da;
    pd += att[at.aBase + j] * da;
  }
  for (var j = 0u; j <= at.pos; j++) { dS[at.aBase + j] = att[at.aBase + j] * (dS[at.aBase + j] - pd); }
  var d = 0u;
  for (; d + 4u <= hd; d += 4u) {
    var acc = vec4<f32>(0.0);
    for (var j = 0u; j <= at.pos; j++) {
      let kb = at.cBase + j * hd + d;
      acc += dS[at.aBase + j] * vec4<f32>(kCache[kb], kCache[kb + 1u], kCache[kb + 2u], kCache[kb + 3u]);
    }
    dq[at.qBase + d] = p.scale * acc.x;
    dq[at.qBase + d + 1u] = p.scale * acc.y;
    dq[at.qBase + d + 2u] = p.scale * acc.z;
    dq[at.qBase + d + 3u] = p.scale * acc.w;
  }
  for (; d < hd; d++) {
    var acc = 0.0;
    for (var j = 0u; j <= at.pos; j++) { acc += dS[at.aBase + j] * kCache[at.cBase + j * hd + d]; }
    dq[at.qBase + d] = p.scale * acc;
  }
}

@compute @workgroup_size(64)
fn backward_kv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let j = wg.x;       // key position
  let kvh = wg.y;
  let slot = wg.z;
  if (j >= p.maxLen) { return; }
  let rep = p.nH / p.nKV;
  let dst = ((slot * p.nKV + kvh) * p.maxLen + j) * p.hd;
  for (var d = t; d < p.hd; d += 64u) {
    var gk = 0.0;
    var gv = 0.0;
    for (var pos = j; pos < p.maxLen; pos++) {
      let r = slot * p.maxLen + pos;
      for (var hh = 0u; hh < rep; hh++) {
        let h = kvh * rep + hh;
        let a = (r * p.nH + h) * p.maxLen + j;
        let qi = (r * p.nH + h) * p.hd + d;
        gk += dSr[a] * q[qi];
        gv += att[a] * dOut[qi];
      }
    }
    dKc[dst + d] = p.scale * gk;
    dVc[dst + d] = gv;
  }
}

// backward_kv for software adapters: each thread owns four dims of one key (its probabilities
// and dS loaded once for the four), no barriers, and 64 such (key, four dims) pairs fill a
// workgroup. Grid [⌈maxLen·⌈hd/4⌉ / 64⌉, nKV, slots].
@compute @workgroup_size(64)
fn backward_kv_serial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let quads = (p.hd + 3u) / 4u;
  let j = gid.x / quads;
  let d0 = 4u * (gid.x % quads);
  let kvh = gid.y;
  let slot = gid.z;
  if (j >= p.maxLen) { return; }
  let rep = p.nH / p.nKV;
  let dst = ((slot * p.nKV + kvh) * p.maxLen + j) * p.hd;
  let n = min(4u, p.hd - d0);  // dims of this thread (fewer at a tail)
  var gk = vec4<f32>(0.0);
  var gv = vec4<f32>(0.0);
  for (var pos = j; pos < p.maxLen; pos++) {
    let r = slot * p.maxLen + pos;
    for (var hh = 0u; hh < rep; hh++) {
      let h = kvh * rep + hh;
      let a = (r * p.nH + h) * p.maxLen + j;
      let qi = (r * p.nH + h) * p.hd + d0;
      let ds = dSr[a];
      let pr = att[a];
      // dims past hd read the next values (in bounds of the row block or clamped) and are not written
      gk += ds * vec4<f32>(q[qi], q[qi + 1u], q[qi + 2u], q[qi + 3u]);
      gv += pr * vec4<f32>(dOut[qi], dOut[qi + 1u], dOut[qi + 2u], dOut[qi + 3u]);
    }
  }
  for (var i = 0u; i < n; i++) {
    dKc[dst + d0 + i] = p.scale * gk[i];
    dVc[dst + d0 + i] = gv[i];
  }
}
