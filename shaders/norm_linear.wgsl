// RMSNorm folded into the linears that consume it, for decode steps (N ≤ 16 rows): one dispatch
// where there were four (norm, q, k, v) or four (norm, gate, up, SwiGLU).
//   xn[r, k] = x[r, k] · rstd[r] · g[k],   rstd[r] = 1 / √(mean_k x[r, k]² + eps)
//   y[r, o]  = Σ_k xn[r, k] · W[o, k] = rstd[r] · Σ_k x[r, k] · g[k] · W[o, k]
// so each workgroup sums x·g·W and x² over the same reads of x and scales once at the end.
//   qkv     : outputs o < O1 from W1 (q), then O2 from W2 (k), then O3 from W3 (v), each + its
//             bias (the three biases back to back in `b`); region j of y is [N, Oj] at yOff_j.
//   gate_up : act[r, o] = silu(xn·W1[o]) · (xn·W2[o]) for o < O1 (W1 = gate, W2 = up).
// The `_serial` entries: one thread per output and no barriers, for software adapters.
// Reference: test/reference/ops.ts (rmsnorm, linear, silu); tests: test/ops/norm-linear.test.ts.

// Weight storage: f32 here. gpu/shaders.ts swaps these three lines to keep 16-bit checkpoints
// 16-bit on every adapter: two bf16 or f16 values packed in each u32, unpacked to f32 on load
// (all arithmetic and accumulation stay f32).
alias WT = f32;
const PACK: u32 = 1u; // weights per WT element
fn unpackWT(v: WT, i: u32) -> f32 { return v; }

struct Params { N: u32, K: u32, O1: u32, O2: u32, O3: u32, eps: f32, hasBias: u32, yOff1: u32, yOff2: u32, yOff3: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [N, K]
@group(0) @binding(2) var<storage, read> g: array<f32>;        // [K] the norm's weight
@group(0) @binding(3) var<storage, read> W1: array<WT>;        // [O1, K]
@group(0) @binding(4) var<storage, read> W2: array<WT>;        // [O2, K] (qkv: W1 again when O2 = 0)
@group(0) @binding(5) var<storage, read> W3: array<WT>;        // [O3, K] (W1 again when O3 = 0)
@group(0) @binding(6) var<storage, read> b: array<f32>;        // [O1 + O2 + O3] (a dummy when hasBias = 0)
@group(0) @binding(7) var<storage, read_write> y: array<f32>;  // qkv: the three regions; gate_up: act [N, O1]

const WG: u32 = 64u;
const MAX_N: u32 = 16u;
var<workgroup> part: array<f32, MAX_N * WG>;   // [N, WG] partial sums of x·g·W
var<workgroup> partSq: array<f32, MAX_N * WG>; // [N, WG] partial sums of x²

/** W1, W2 or W3's element i (region 1, 2 or 3). */
fn weightOf(region: u32, i: u32) -> f32 {
  if (region == 1u) { return unpackWT(W1[i / PACK], i); }
  if (region == 2u) { return unpackWT(W2[i / PACK], i); }
  return unpackWT(W3[i / PACK], i);
}

/** The region of global output o and its row within that region's weight. */
fn regionOf(o: u32) -> vec2<u32> {
  if (o < p.O1) { return vec2<u32>(1u, o); }
  if (o < p.O1 + p.O2) { return vec2<u32>(2u, o - p.O1); }
  return vec2<u32>(3u, o - p.O1 - p.O2);
}

fn rstdOf(sumSq: f32) -> f32 { return inverseSqrt(sumSq / f32(p.K) + p.eps); }

/** Writes region output (region, row) of row r: the scaled sum plus its bias. */
fn writeQkv(region: u32, row: u32, r: u32, o: u32, v: f32) {
  var out = v;
  if (p.hasBias == 1u) { out += b[o]; }
  var at = p.yOff1 + r * p.O1 + row;
  if (region == 2u) { at = p.yOff2 + r * p.O2 + row; }
  if (region == 3u) { at = p.yOff3 + r * p.O3 + row; }
  y[at] = out;
}

fn silu(z: f32) -> f32 { return z / (1.0 + exp(-z)); }

/** Reduces part and partSq over the workgroup's threads (results at index r·WG, r < n). */
// #if subgroups
// With subgroups: subgroupAdd over each subgroup, the elected thread keeps the sum in its slot and
// the others 0 (however subgroups tile the workgroup), one barrier, then thread r adds row r's slots.
fn reduce(t: u32, n: u32) {
  let elected = subgroupElect();
  for (var r = 0u; r < MAX_N; r++) {
    let s = subgroupAdd(part[r * WG + t]);
    let q = subgroupAdd(partSq[r * WG + t]);
    part[r * WG + t] = select(0.0, s, elected);
    partSq[r * WG + t] = select(0.0, q, elected);
  }
  workgroupBarrier();
  if (t < n) {
    var s = 0.0;
    var q = 0.0;
    for (var i = 0u; i < WG; i++) {
      s += part[t * WG + i];
      q += partSq[t * WG + i];
    }
    part[t * WG] = s;
    partSq[t * WG] = q;
  }
}
// #else
fn reduce(t: u32, n: u32) {
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var r = 0u; r < MAX_N; r++) {
        if (r < n) {
          part[r * WG + t] += part[r * WG + t + s];
          partSq[r * WG + t] += partSq[r * WG + t + s];
        }
      }
    }
    workgroupBarrier();
  }
}
// #endif

@compute @workgroup_size(WG)
fn qkv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let o = wg.x + wg.y * nwg.x;
  if (o >= p.O1 + p.O2 + p.O3) { return; }
  let n = min(p.N, MAX_N);
  let at = regionOf(o);
  var acc: array<f32, 16>;
  var sq: array<f32, 16>;
  for (var k = t; k < p.K; k += WG) {
    let w = weightOf(at.x, at.y * p.K + k) * g[k];
    for (var r = 0u; r < MAX_N; r++) {
      if (r < n) {
        let v = x[r * p.K + k];
        acc[r] += w * v;
        sq[r] += v * v;
      }
    }
  }
  for (var r = 0u; r < MAX_N; r++) {
    part[r * WG + t] = acc[r];
    partSq[r * WG + t] = sq[r];
  }
  reduce(t, n);
  if (t < n) { writeQkv(at.x, at.y, t, o, part[t * WG] * rstdOf(partSq[t * WG])); }
}

@compute @workgroup_size(64)
fn qkv_serial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * 64u;
  if (o >= p.O1 + p.O2 + p.O3) { return; }
  let n = min(p.N, MAX_N);
  let at = regionOf(o);
  var acc: array<f32, 16>;
  var sq: array<f32, 16>;
  for (var k = 0u; k < p.K; k++) {
    let w = weightOf(at.x, at.y * p.K + k) * g[k];
    for (var r = 0u; r < n; r++) {
      let v = x[r * p.K + k];
      acc[r] += w * v;
      sq[r] += v * v;
    }
  }
  for (var r = 0u; r < n; r++) { writeQkv(at.x, at.y, r, o, acc[r] * rstdOf(sq[r])); }
}

@compute @workgroup_size(WG)
fn gate_up(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let o = wg.x + wg.y * nwg.x;
  if (o >= p.O1) { return; }
  let n = min(p.N, MAX_N);
  var accG: array<f32, 16>;
  var accU: array<f32, 16>;
  var sq: array<f32, 16>;
  for (var k = t; k < p.K; k += WG) {
    let wg_ = weightOf(1u, o * p.K + k) * g[k];
    let wu = weightOf(2u, o * p.K + k) * g[k];
    for (var r = 0u; r < MAX_N; r++) {
      if (r < n) {
        let v = x[r * p.K + k];
        accG[r] += wg_ * v;
        accU[r] += wu * v;
        sq[r] += v * v;
      }
    }
  }
  // two reductions through the same workgroup memory: gate (with x²), then up
  for (var r = 0u; r < MAX_N; r++) {
    part[r * WG + t] = accG[r];
    partSq[r * WG + t] = sq[r];
  }
  reduce(t, n);
  var gate = 0.0;
  var rs = 0.0;
  if (t < n) {
    rs = rstdOf(partSq[t * WG]);
    gate = part[t * WG] * rs;
  }
  workgroupBarrier();
  for (var r = 0u; r < MAX_N; r++) {
    part[r * WG + t] = accU[r];
    partSq[r * WG + t] = 0.0;
  }
  reduce(t, n);
  if (t < n) { y[t * p.O1 + o] = silu(gate) * part[t * WG] * rs; }
}

@compute @workgroup_size(64)
fn gate_up_serial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * 64u;
  if (o >= p.O1) { return; }
  let n = min(p.N, MAX_N);
  var accG: array<f32, 16>;
  var accU: array<f32, 16>;
  var sq: array<f32, 16>;
  for (var k = 0u; k < p.K; k++) {
    let wg_ = weightOf(1u, o * p.K + k) * g[k];
    let wu = weightOf(2u, o * p.K + k) * g[k];
    for (var r = 0u; r < n; r++) {
      let v = x[r * p.K + k];
      accG[r] += wg_ * v;
      accU[r] += wu * v;
      sq[r] += v * v;
    }
  }
  for (var r = 0u; r < n; r++) {
    let rs = rstdOf(sq[r]);
    y[r * p.O1 + o] = silu(accG[r] * rs) * accU[r] * rs;
  }
}
