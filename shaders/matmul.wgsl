// Linear layer, weights stored [out, in] as in PyTorch:
//   y[r, yOffset + o] = (accumulate ? y[r, yOffset + o] : 0) + scale · Σ_k x[r, k] · W[o, k] + (hasBias ? b[o] : 0)
// x: [N, K]   W: [O, K] (one row chunk of a possibly split weight)   b: [O]   y: [N, ldy]
// `accumulate` folds the residual add into o_proj and down_proj; `scale` is LoRA's alpha/r.
// The decode-step matmul (N ≤ 16 rows; prefill uses gemm.wgsl's 32×32 tiles with the same
// semantics). Two entry points over the same bindings:
//   few_rows : a workgroup owns one output o and reads W[o, :] once for
//              all N rows (so the weights are read once per step for the whole batch), its 64
//              threads splitting K and reducing in workgroup memory. No padded rows.
//   few_rows_serial : the same contract with one thread per output and no barriers, for
//              software adapters (SwiftShader), where workgroup barriers are what costs.
//   few_rows is written twice: where the device has `subgroups` (kernels made with them, see
//              gpu/shaders.ts) each thread reads four consecutive weights of the row a step
//              (adjacent words, one 16-byte span for f32), subgroupAdd sums each subgroup's
//              partials, one barrier, and thread r adds the subgroup sums of row r (no assumption
//              on how subgroups tile the workgroup: a thread that is not its subgroup's elected
//              one writes 0 to its slot); elsewhere a tree reduction through workgroup memory.
// Weight storage: f32 here. gpu/shaders.ts swaps these three lines to keep 16-bit checkpoints
// 16-bit on every adapter: two bf16 or f16 values packed in each u32, unpacked to f32 on load
// (all arithmetic and accumulation stay f32).
alias WT = f32;
const PACK: u32 = 1u; // weights per WT element
fn unpackWT(v: WT, i: u32) -> f32 { return v; }

struct Params { N: u32, K: u32, O: u32, ldy: u32, yOffset: u32, hasBias: u32, accumulate: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [N, K]
@group(0) @binding(2) var<storage, read> W: array<WT>;        // [O, K]
@group(0) @binding(3) var<storage, read> b: array<f32>;       // [O] (a 1-element dummy when hasBias = 0)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [N, ldy]

fn weight(i: u32) -> f32 { return unpackWT(W[i / PACK], i); }

const FEW_WG: u32 = 64u;
const FEW_MAX_N: u32 = 16u;
var<workgroup> part: array<f32, FEW_MAX_N * FEW_WG>;   // [N, FEW_WG] partial sums

// #if subgroups
@compute @workgroup_size(FEW_WG)
fn few_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let o = wg.x + wg.y * nwg.x;
  if (o >= p.O) { return; } // the same for the whole workgroup: subgroup operations stay uniform
  let n = min(p.N, FEW_MAX_N);
  var acc: array<f32, 16>;
  let wRow = o * p.K;
  for (var k0 = 4u * t; k0 < p.K; k0 += 4u * FEW_WG) {
    for (var j = 0u; j < 4u; j++) {
      let k = k0 + j;
      if (k < p.K) {
        let w = weight(wRow + k);
        for (var r = 0u; r < FEW_MAX_N; r++) {
          if (r < n) { acc[r] += w * x[r * p.K + k]; }
        }
      }
    }
  }
  let elected = subgroupElect();
  for (var r = 0u; r < FEW_MAX_N; r++) {
    let s = subgroupAdd(acc[r]);
    part[r * FEW_WG + t] = select(0.0, s, elected);
  }
  workgroupBarrier();
  if (t < n) {
    var sum = 0.0;
    for (var i = 0u; i < FEW_WG; i++) { sum += part[t * FEW_WG + i]; }
    let yi = t * p.ldy + p.yOffset + o;
    var v = p.scale * sum;
    if (p.hasBias == 1u) { v += b[o]; }
    if (p.accumulate == 1u) { v += y[yi]; }
    y[yi] = v;
  }
}
// #else
@compute @workgroup_size(FEW_WG)
fn few_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let o = wg.x + wg.y * nwg.x;
  if (o >= p.O) { return; }
  let n = min(p.N, FEW_MAX_N);
  var acc: array<f32, 16>;
  let wRow = o * p.K;
  // Constant trip counts (with guards) let the compiler unroll and keep acc in registers.
  for (var k = t; k < p.K; k += FEW_WG) {
    let w = weight(wRow + k);
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
// #endif

@compute @workgroup_size(64)
fn few_rows_serial(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = g.x + g.y * nwg.x * 64u;
  if (o >= p.O) { return; }
  let n = min(p.N, FEW_MAX_N);
  var acc: array<f32, 16>;
  let wRow = o * p.K;
  for (var k = 0u; k < p.K; k++) {
    let w = weight(wRow + k);
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
