// Optimizer over one flat parameter buffer (all trainable tensors back to back).
//   sumsq : partial[w] = Σ g² over this workgroup's slice  (global norm = √Σ partial, on the host)
//   step  : AdamW with bias correction and decoupled weight decay; gradients pre-scaled by
//           gradScale (1/accumulation steps × clipping coefficient):
//     g ← gradScale·g;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//     θ ← θ − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε) − lr·wd·θ
// params, grads, m, v: [n]

struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weightDecay: f32, bc1: f32, bc2: f32, gradScale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;   // [workgroups]

const WG: u32 = 256u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn sumsq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) nw: vec3<u32>) {
  let w = wg.x;
  var s = 0.0;
  for (var i = w * WG + t; i < p.n; i += nw.x * WG) { let g = grads[i]; s += g * g; }
  red[t] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { red[t] += red[t + k]; }
    workgroupBarrier();
  }
  if (t == 0u) { partial[w] = red[0]; }
}

@compute @workgroup_size(WG)
fn step(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = g.x + g.y * nw.x * WG;
  if (i >= p.n) { return; }
  let gr = grads[i] * p.gradScale;
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * gr;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * gr * gr;
  m[i] = mi;
  v[i] = vi;
  let th = params[i];
  params[i] = th - p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps) - p.lr * p.weightDecay * th;
}
