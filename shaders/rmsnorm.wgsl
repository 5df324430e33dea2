// RMSNorm, as transformers computes it in f32:  y[r, :] = x[r, :] * rsqrt(mean(x[r, :]²) + eps) * w
// x, y: [N, H]   w: [H]   one workgroup per row.
// Saved for backward (training): rstd[r] = rsqrt(mean(x²) + eps), written when saveRstd = 1.

struct Params { N: u32, H: u32, eps: f32, saveRstd: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [N, H]
@group(0) @binding(2) var<storage, read> w: array<f32>;          // [H]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;    // [N, H]
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>; // [N]

const WG: u32 = 128u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = wg.x + wg.y * 65535u;
  if (r >= p.N) { return; }
  let base = r * p.H;
  var s = 0.0;
  for (var i = t; i < p.H; i += WG) { let v = x[base + i]; s += v * v; }
  partial[t] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { partial[t] += partial[t + k]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(partial[0] / f32(p.H) + p.eps);
  for (var i = t; i < p.H; i += WG) { y[base + i] = x[base + i] * inv * w[i]; }
  if (t == 0u && p.saveRstd == 1u) { rstd[r] = inv; }
}

// The forward for software adapters (SwiftShader emulates workgroup barriers at great cost):
// one thread per row, no barriers. Grid elementsGrid(N, 64).
@compute @workgroup_size(64)
fn forward_serial(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = g.x + g.y * nwg.x * 64u;
  if (r >= p.N) { return; }
  let base = r * p.H;
  var s = 0.0;
  for (var i = 0u; i < p.H; i++) { let v = x[base + i]; s += v * v; }
  let inv = inverseSqrt(s / f32(p.H) + p.eps);
  for (var i = 0u; i < p.H; i++) { y[base + i] = x[base + i] * inv * w[i]; }
  if (p.saveRstd == 1u) { rstd[r] = inv; }
}

// Backward (w frozen). With x̂ = x·rstd and g = w ⊙ dy:
//   dx = rstd · (g − x̂ · mean(x̂ ⊙ g))          (added to dx when accumulate = 1)
// Bindings as forward, reinterpreted: x [N,H] the forward input, w [H], y ← dy [N,H] (read),
// rstd [N] saved by forward; dx goes to the extra binding 5.
struct BackParams { N: u32, H: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> bp: BackParams;
@group(0) @binding(1) var<storage, read> bx: array<f32>;            // [N, H]
@group(0) @binding(2) var<storage, read> bw: array<f32>;            // [H]
@group(0) @binding(3) var<storage, read> bdy: array<f32>;           // [N, H]
@group(0) @binding(4) var<storage, read> brstd: array<f32>;         // [N]
@group(0) @binding(5) var<storage, read_write> bdx: array<f32>;     // [N, H]

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = wg.x + wg.y * 65535u;
  if (r >= bp.N) { return; }
  let base = r * bp.H;
  let rs = brstd[r];
  var s = 0.0;
  for (var i = t; i < bp.H; i += WG) { s += bx[base + i] * rs * bw[i] * bdy[base + i]; }
  partial[t] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { partial[t] += partial[t + k]; }
    workgroupBarrier();
  }
  let mean = partial[0] / f32(bp.H);
  for (var i = t; i < bp.H; i += WG) {
    var v = rs * (bw[i] * bdy[base + i] - bx[base + i] * rs * mean);
    if (bp.accumulate == 1u) { v += bdx[base + i]; }
    bdx[base + i] = v;
  }
}

// backward for software adapters: one thread per row, no barriers. Grid elementsGrid(N, 64).
@compute @workgroup_size(64)
fn backward_serial(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = g.x + g.y * nwg.x * 64u;
  if (r >= bp.N) { return; }
  let base = r * bp.H;
  let rs = brstd[r];
  var s = 0.0;
  for (var i = 0u; i < bp.H; i++) { s += bx[base + i] * rs * bw[i] * bdy[base + i]; }
  let mean = s / f32(bp.H);
  for (var i = 0u; i < bp.H; i++) {
    var v = rs * (bw[i] * bdy[base + i] - bx[base + i] * rs * mean);
    if (bp.accumulate == 1u) { v += bdx[base + i]; }
    bdx[base + i] = v;
  }
}

// Weight gradient (full-parameter training): dw[i] += Σ_r dy[r, i] · x[r, i] · rstd[r].
// One thread per column i.
@group(0) @binding(5) var<storage, read_write> bdw: array<f32>;     // [H]

@compute @workgroup_size(64)
fn backward_weight(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i >= bp.H) { return; }
  var s = 0.0;
  for (var r = 0u; r < bp.N; r++) { s += bdy[r * bp.H + i] * bx[r * bp.H + i] * brstd[r]; }
  bdw[i] += s;
}
