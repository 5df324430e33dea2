// Token log-probabilities and their gradient (training). One workgroup per row (forward_serial:
// one thread per row, for software adapters).
//   forward : lse[r] = log Σ_v exp(logits[r, v]);  logp[r] = logits[r, target[r]] − lse[r]
//             logitSum[r] = Σ_v logits[r, v] (TRL's logits/chosen|rejected are its means)
//             (target = 0xffffffff marks a row outside the completion: logp = logitSum = 0)
//   backward: dLogits[r, v] = coef[r] · (1[v = target] − exp(logits[r, v] − lse[r]))
//             where coef[r] = ∂loss/∂logp[r] (0 for masked rows).
// logits, dLogits: [N, V]   target, lse, logp, logitSum, coef: [N]

struct Params { N: u32, V: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;        // [N, V]
@group(0) @binding(2) var<storage, read> target_: array<u32>;       // [N]
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;     // [N]
@group(0) @binding(4) var<storage, read_write> logp: array<f32>;    // [N]
@group(0) @binding(3) var<storage, read> lseR: array<f32>;          // [N]
@group(0) @binding(4) var<storage, read> coef: array<f32>;          // [N]
@group(0) @binding(5) var<storage, read_write> dLogits: array<f32>; // [N, V]
@group(0) @binding(5) var<storage, read_write> logitSum: array<f32>; // [N]

const WG: u32 = 256u;
var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<f32, WG>;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = wg.x + wg.y * 65535u;
  if (r >= p.N) { return; }
  let base = r * p.V;
  var m = -3.4e38;
  var total = 0.0;
  for (var v = t; v < p.V; v += WG) {
    let x = logits[base + v];
    m = max(m, x);
    total += x;
  }
  red[t] = m;
  red2[t] = total;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) {
      red[t] = max(red[t], red[t + k]);
      red2[t] += red2[t + k];
    }
    workgroupBarrier();
  }
  let mx = red[0];
  let sumLogits = red2[0];
  workgroupBarrier();
  var s = 0.0;
  for (var v = t; v < p.V; v += WG) { s += exp(logits[base + v] - mx); }
  red[t] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { red[t] += red[t + k]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    let l = mx + log(red[0]);
    lse[r] = l;
    let tg = target_[r];
    logp[r] = select(0.0, logits[base + tg] - l, tg < p.V);
    logitSum[r] = select(0.0, sumLogits, tg < p.V);
  }
}

// The forward for software adapters (SwiftShader emulates workgroup barriers at great cost):
// one thread per row, no barriers; the maximum and the sum of exponentials in one pass (the sum
// rescaled whenever the maximum grows). Grid elementsGrid(N, 64).
@compute @workgroup_size(64)
fn forward_serial(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = g.x + g.y * nwg.x * 64u;
  if (r >= p.N) { return; }
  let base = r * p.V;
  var m = -3.4e38;
  var s = 0.0;
  var total = 0.0;
  for (var v = 0u; v < p.V; v++) {
    let x = logits[base + v];
    total += x;
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  let l = m + log(s);
  lse[r] = l;
  let tg = target_[r];
  logp[r] = select(0.0, logits[base + tg] - l, tg < p.V);
  logitSum[r] = select(0.0, total, tg < p.V);
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = wg.x + wg.y * 65535u;
  if (r >= p.N) { return; }
  let base = r * p.V;
  let c = coef[r];
  let tg = target_[r];
  let l = lseR[r];
  for (var v = t; v < p.V; v += WG) {
    var g = 0.0;
    if (c != 0.0) { g = c * (select(0.0, 1.0, v == tg) - exp(logits[base + v] - l)); }
    dLogits[base + v] = g;
  }
}
