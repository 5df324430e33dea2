// Token sampling on the GPU: greedy, temperature, top-p (nucleus), seeded. One workgroup per sequence.
// Only the chosen ids leave the GPU; the logits never do.
//   temperature = 0: argmax (lowest index on ties).
//   otherwise   : p_i ∝ exp((l_i − max l) / T); nucleus = {i : p_i ≥ τ} with the largest τ whose
//                 mass is ≥ topP·Σp (found by bisection); draw u = rand(seed, step) and pick the
//                 first index whose running nucleus mass exceeds u·mass.
// logits: [B, V]   seqs: [B] SeqParams   tokens: [B]

struct Params { B: u32, V: u32 }
struct SeqParams { seed: u32, step: u32, temperature: f32, topP: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;        // [B, V]
@group(0) @binding(2) var<storage, read> seqs: array<SeqParams>;     // [B]
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>;   // [B]

const WG: u32 = 256u;
const BISECT_STEPS: u32 = 24u;   // τ to within 2^-24 of the max probability
var<workgroup> rv: array<f32, WG>;
var<workgroup> ri: array<u32, WG>;

// A 32-bit integer hash (PCG output permutation); counter-based, so a draw depends only on (seed, step).
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
fn uniform01(seed: u32, step: u32) -> f32 {
  return f32(pcg(pcg(seed) ^ (step * 0x9E3779B9u)) >> 8u) * (1.0 / 16777216.0);
}

fn reduceSum(t: u32, v: f32) -> f32 {
  rv[t] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) { rv[t] += rv[t + k]; }
    workgroupBarrier();
  }
  let s = rv[0];
  workgroupBarrier();
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let b = wg.x;
  if (b >= p.B) { return; }
  let base = b * p.V;
  let sp = seqs[b];

  // argmax with lowest-index tie-break
  var bv = -3.4e38;
  var bi = 0xffffffffu;
  for (var i = t; i < p.V; i += WG) {
    let l = logits[base + i];
    if (l > bv) { bv = l; bi = i; }
  }
  rv[t] = bv; ri[t] = bi;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) {
      let ov = rv[t + k]; let oi = ri[t + k];
      if (ov > rv[t] || (ov == rv[t] && oi < ri[t])) { rv[t] = ov; ri[t] = oi; }
    }
    workgroupBarrier();
  }
  let maxL = rv[0];
  let argmax = ri[0];
  workgroupBarrier();
  if (sp.temperature <= 0.0) {
    if (t == 0u) { tokens[b] = argmax; }
    return;
  }

  let invT = 1.0 / sp.temperature;
  var z = 0.0;
  for (var i = t; i < p.V; i += WG) { z += exp((logits[base + i] - maxL) * invT); }
  let total = reduceSum(t, z);

  // Nucleus threshold τ ∈ [0, 1] (p_i ≤ 1 since the max maps to exp(0)).
  var lo = 0.0;
  if (sp.topP < 1.0) {
    var hi = 1.0;
    let need = sp.topP * total;
    for (var it = 0u; it < BISECT_STEPS; it++) {
      let mid = 0.5 * (lo + hi);
      var m = 0.0;
      for (var i = t; i < p.V; i += WG) {
        let e = exp((logits[base + i] - maxL) * invT);
        if (e >= mid) { m += e; }
      }
      if (reduceSum(t, m) >= need) { lo = mid; } else { hi = mid; }
    }
  }

  // Inverse CDF in index order over contiguous chunks: chunk sums, prefix scan, then one walk.
  let chunk = (p.V + WG - 1u) / WG;
  let c0 = min(t * chunk, p.V);
  let c1 = min(c0 + chunk, p.V);
  var cs = 0.0;
  for (var i = c0; i < c1; i++) {
    let e = exp((logits[base + i] - maxL) * invT);
    if (e >= lo) { cs += e; }
  }
  rv[t] = cs;
  workgroupBarrier();
  for (var k = 1u; k < WG; k <<= 1u) {   // Hillis–Steele inclusive scan
    var add = 0.0;
    if (t >= k) { add = rv[t - k]; }
    workgroupBarrier();
    rv[t] += add;
    workgroupBarrier();
  }
  let mass = rv[WG - 1u];
  let goal = uniform01(sp.seed, sp.step) * mass;
  let before = select(0.0, rv[max(t, 1u) - 1u], t > 0u);
  ri[t] = 0xffffffffu;
  if (goal >= before && goal < rv[t]) {
    var run = before;
    var pick = 0xffffffffu;
    for (var i = c0; i < c1; i++) {
      let e = exp((logits[base + i] - maxL) * invT);
      if (e >= lo) {
        run += e;
        pick = i;          // last nucleus index so far (guards against rounding at the chunk end)
        if (goal < run) { break; }
      }
    }
    ri[t] = pick;
  }
  workgroupBarrier();
  if (t == 0u) {
    var chosen = argmax;   // fallback if rounding left goal ≥ mass
    for (var k = 0u; k < WG; k++) { if (ri[k] != 0xffffffffu) { chosen = ri[k]; break; } }
    tokens[b] = chosen;
  }
}
