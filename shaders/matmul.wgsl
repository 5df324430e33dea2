// Linear layer, weights stored [out, in] as in PyTorch:
//   y[r, yOffset + o] = (accumulate ? y[r, yOffset + o] : 0) + scale · Σ_k x[r, k] · W[o, k] + (hasBias ? b[o] : 0)
// x: [N, K]   W: [O, K] (one row chunk of a possibly split weight)   b: [O]   y: [N, ldy]
// `accumulate` folds the residual add into o_proj and down_proj; `scale` is LoRA's alpha/r.
// Two entry points over the same bindings:
//   tiled    : N > 16 (prefill). A workgroup computes 32 rows × 32 outputs (2×2 per thread),
//              stepping K by 16 through workgroup memory.
//   few_rows : N ≤ 16 (a decode step). A workgroup owns one output o and reads W[o, :] once for
//              all N rows (so the weights are read once per step for the whole batch), its 64
//              threads splitting K and reducing in workgroup memory. No padded rows.
//   few_rows_serial : the same contract with one thread per output and no barriers, for
//              software adapters (SwiftShader), where workgroup barriers are what costs.
alias WT = f32; // replaced by f16 when weights are stored in half precision

struct Params { N: u32, K: u32, O: u32, ldy: u32, yOffset: u32, hasBias: u32, accumulate: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [N, K]
@group(0) @binding(2) var<storage, read> W: array<WT>;        // [O, K]
@group(0) @binding(3) var<storage, read> b: array<f32>;       // [O] (a 1-element dummy when hasBias = 0)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [N, ldy]

const TS: u32 = 32u;    // rows × outputs per workgroup tile
const TKT: u32 = 16u;   // K step
var<workgroup> xs: array<f32, TS * TKT>;          // [TS rows, TKT]
var<workgroup> ws: array<f32, TKT * (TS + 1u)>;   // [TKT, TS + 1]: W tile, k-major (padded)

@compute @workgroup_size(256)
fn tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let o0 = wg.x * TS;
  let r0 = wg.y * TS;
  let tr = (t / 16u) * 2u;  // this thread's 2 rows
  let tc = (t % 16u) * 2u;  // and 2 outputs
  var acc = vec4<f32>(0.0); // (r, o), (r, o+1), (r+1, o), (r+1, o+1)
  for (var k0 = 0u; k0 < p.K; k0 += TKT) {
    for (var i = t; i < TS * TKT; i += 256u) {
      let kk = k0 + i % TKT;
      let rr = r0 + i / TKT;
      var xv = 0.0;
      if (rr < p.N && kk < p.K) { xv = x[rr * p.K + kk]; }
      xs[i] = xv;
      let oo = o0 + i / TKT;
      var wv = 0.0;
      if (oo < p.O && kk < p.K) { wv = f32(W[oo * p.K + kk]); }
      ws[(i % TKT) * (TS + 1u) + i / TKT] = wv;
    }
    workgroupBarrier();
    for (var k = 0u; k < TKT; k++) {
      let a0 = xs[tr * TKT + k];
      let a1 = xs[(tr + 1u) * TKT + k];
      let b0 = ws[k * (TS + 1u) + tc];
      let b1 = ws[k * (TS + 1u) + tc + 1u];
      acc += vec4<f32>(a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    }
    workgroupBarrier();
  }
  for (var j = 0u; j < 4u; j++) {
    let r = r0 + tr + j / 2u;
    let o = o0 + tc + j % 2u;
    if (r < p.N && o < p.O) {
      let yi = r * p.ldy + p.yOffset + o;
      var v = p.scale * acc[j];
      if (p.hasBias == 1u) { v += b[o]; }
      if (p.accumulate == 1u) { v += y[yi]; }
      y[yi] = v;
    }
  }
}

const FEW_WG: u32 = 64u;
const FEW_MAX_N: u32 = 16u;
var<workgroup> part: array<f32, FEW_MAX_N * FEW_WG>;   // [N, FEW_WG] partial sums

@compute @workgroup_size(FEW_WG)
fn few_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let o = wg.x + wg.y * nwg.x;
  if (o >= p.O) { return; }
  let n = min(p.N, FEW_MAX_N);
  var acc: array<f32, 16>;
  let wRow = o * p.K;
  // Constant trip counts (with guards) let the compiler unroll and keep acc in registers.
  for (var k = t; k < p.K; k += FEW_WG) {
    let w = f32(W[wRow + k]);
    for (var r = 0u; r < FEW_MAX_N; r++) {
      if (r < n) { acc[r] += w * x[r * p.K + k]; }
    }
  }
  for (var r = 0u; r < FEW_MAX_N; r++) { part[r * FEW_WG + t] = acc[r]; }
  workgroupBarrier();
  for (var s = FEW_WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var r = 0u; r < FEW_MAX_N; r++) {
        if (r < n) { part[r * FEW_WG + t] += part[r * FEW_WG + t + s]; }
      }
    }
    workgroupBarrier();
  }
  if (t < n) {
    let yi = t * p.ldy + p.yOffset + o;
    var v = p.scale * part[t * FEW_WG];
    if (p.hasBias == 1u) { v += b[o]; }
    if (p.accumulate == 1u) { v += y[yi]; }
    y[yi] = v;
  }
}

@compute @workgroup_size(64)
fn few_rows_serial(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = g.x + g.y * nwg.x * 64u;
  if (o >= p.O) { return; }
  let n = min(p.N, FEW_MAX_N);
  var acc: array<f32, 16>;
  let wRow = o * p.K;
  for (var k = 0u; k < p.K; k++) {
    let w = f32(W[wRow + k]);
    for (var r = 0u; r < n; r++) { acc[r] += w * x[r * p.K + k]; }
  }
  for (var r = 0u; r < n; r++) {
    let yi = r * p.ldy + p.yOffset + o;
    var v = p.scale * acc[r];
    if (p.hasBias == 1u) { v += b[o]; }
    if (p.accumulate == 1u) { v += y[yi]; }
    y[yi] = v;
  }
}
