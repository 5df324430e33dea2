// General strided matrix product, the one linear-algebra kernel of training:
//   C[m, n] = alpha · Σ_k A[m, k] · B[k, n]  (+ C[m, n] when accumulate = 1) (+ bias[n] when hasBias = 1)
// A[m, k] = a[aOff + m·sAm + k·sAk]   B[k, n] = b[k·sBk + n·sBn]   C[m, n] = c[cOff + m·ldc + n]
// (aOff/cOff address a column block, e.g. one vocabulary chunk of the logits.)
// With strides every pass of a linear layer y = x·Wᵀ (W stored [out, in]) is one call:
//   forward      y[N,O]  = x[N,K] · Wᵀ     A = x (K, 1)   B = W viewed [K, O] (1, K)
//   input grad   dx[N,K] = dy[N,O] · W     A = dy (O, 1)  B = W (K, 1)
//   weight grad  dW[O,K] = dyᵀ · x         A = dy viewed [O, N] (1, O)  B = x (K, 1)
// main: tiles of 32×32 outputs, 256 threads with 2×2 outputs each, K stepped by 16 through
// workgroup memory; serial (software adapters): 64×64 tiles, see below. B may be a (16-bit) weight; A and C are always f32.
// Weight storage: f32 here. gpu/shaders.ts swaps these three lines to keep 16-bit checkpoints
// 16-bit on every adapter: two bf16 or f16 values packed in each u32, unpacked to f32 on load
// (all arithmetic and accumulation stay f32).
alias WT = f32;
const PACK: u32 = 1u; // weights per WT element
fn unpackWT(v: WT, i: u32) -> f32 { return v; }

struct Params { M: u32, Nn: u32, K: u32, sAm: u32, sAk: u32, sBk: u32, sBn: u32, ldc: u32, alpha: f32, accumulate: u32, aOff: u32, cOff: u32, hasBias: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;        // A
@group(0) @binding(2) var<storage, read> b: array<WT>;         // B
@group(0) @binding(3) var<storage, read_write> c: array<f32>;  // C [M, ldc]
@group(0) @binding(4) var<storage, read> bias: array<f32>;     // [Nn] (a dummy when hasBias = 0)

fn bAt(i: u32) -> f32 { return unpackWT(b[i / PACK], i); }

const TS: u32 = 32u;   // output tile edge
const TK: u32 = 16u;   // K step
const SERIAL_TS: u32 = 64u; // serial: output tile edge
var<workgroup> as_: array<f32, TS * TK>;          // [TS rows m, TK]
var<workgroup> bs: array<f32, TK * (TS + 1u)>;    // [TK, TS + 1]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let n0 = wg.x * TS;
  let m0 = wg.y * TS;
  let tm = (t / 16u) * 2u;  // this thread's 2 rows
  let tn = (t % 16u) * 2u;  // and 2 columns
  var acc = vec4<f32>(0.0); // (m, n), (m, n+1), (m+1, n), (m+1, n+1)
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    for (var i = t; i < TS * TK; i += 256u) {
      let mm = m0 + i / TK;
      let kk = k0 + i % TK;
      var v = 0.0;
      if (mm < p.M && kk < p.K) { v = a[p.aOff + mm * p.sAm + kk * p.sAk]; }
      as_[i] = v;
      // Neighbouring threads read neighbouring addresses: along k when B is a weight viewed
      // transposed (sBk = 1: every forward linear), along n otherwise.
      var bk = i / TS;
      var bn = i % TS;
      if (p.sBk == 1u) { bk = i % TK; bn = i / TK; }
      let kb = k0 + bk;
      let nn = n0 + bn;
      var w = 0.0;
      if (kb < p.K && nn < p.Nn) { w = bAt(kb * p.sBk + nn * p.sBn); }
      bs[bk * (TS + 1u) + bn] = w;
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let a0 = as_[tm * TK + k];
      let a1 = as_[(tm + 1u) * TK + k];
      let b0 = bs[k * (TS + 1u) + tn];
      let b1 = bs[k * (TS + 1u) + tn + 1u];
      acc += vec4<f32>(a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + tm + i / 2u;
    let n = n0 + tn + i % 2u;
    if (m < p.M && n < p.Nn) {
      let ci = p.cOff + m * p.ldc + n;
      var v = p.alpha * acc[i];
      if (p.accumulate == 1u) { v += c[ci]; }
      if (p.hasBias == 1u) { v += bias[n]; }
      c[ci] = v;
    }
  }
}

// The same product for software adapters (SwiftShader): no workgroup memory and no barriers,
// which a CPU emulates at great cost. Each thread reads A and B straight from storage for an 8×8
// block of C: 16 loads per 64 multiply-adds (on a CPU every storage load is a per-lane gather:
// loads are what cost). Everything per k is written out, with constant indices only, so that the
// compiler keeps the accumulators in registers (loops over i here measured slower). 64 threads
// cover a 64×64 tile (SERIAL_TS): the host's grid is ⌈Nn/64⌉ × ⌈M/64⌉ for this entry.
// Rows and columns past the edge read the last valid one (no branch in the loop) and are not written.
@compute @workgroup_size(64)
fn serial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let m0 = wg.y * SERIAL_TS + (t / 8u) * 8u;
  let n0 = wg.x * SERIAL_TS + (t % 8u) * 8u;
  if (m0 >= p.M || n0 >= p.Nn) { return; }
  let lm = p.M - 1u;
  let ln = p.Nn - 1u;
  let ra0 = p.aOff + vec4<u32>(min(m0, lm), min(m0 + 1u, lm), min(m0 + 2u, lm), min(m0 + 3u, lm)) * p.sAm;
  let ra1 = p.aOff + vec4<u32>(min(m0 + 4u, lm), min(m0 + 5u, lm), min(m0 + 6u, lm), min(m0 + 7u, lm)) * p.sAm;
  let cb0 = vec4<u32>(min(n0, ln), min(n0 + 1u, ln), min(n0 + 2u, ln), min(n0 + 3u, ln)) * p.sBn;
  let cb1 = vec4<u32>(min(n0 + 4u, ln), min(n0 + 5u, ln), min(n0 + 6u, ln), min(n0 + 7u, ln)) * p.sBn;
  var acc: array<vec4<f32>, 16>; // acc[2i] = C[m0 + i, n0 … n0 + 3], acc[2i + 1] = C[m0 + i, n0 + 4 … n0 + 7]
  for (var k = 0u; k < p.K; k++) {
    let ak = k * p.sAk;
    let bk = k * p.sBk;
    let b0 = vec4<f32>(bAt(bk + cb0.x), bAt(bk + cb0.y), bAt(bk + cb0.z), bAt(bk + cb0.w));
    let b1 = vec4<f32>(bAt(bk + cb1.x), bAt(bk + cb1.y), bAt(bk + cb1.z), bAt(bk + cb1.w));
    let a0 = a[ra0.x + ak];
    let a1 = a[ra0.y + ak];
    let a2 = a[ra0.z + ak];
    let a3 = a[ra0.w + ak];
    let a4 = a[ra1.x + ak];
    let a5 = a[ra1.y + ak];
    let a6 = a[ra1.z + ak];
    let a7 = a[ra1.w + ak];
    acc[0] += a0 * b0;
    acc[1] += a0 * b1;
    acc[2] += a1 * b0;
    acc[3] += a1 * b1;
    acc[4] += a2 * b0;
    acc[5] += a2 * b1;
    acc[6] += a3 * b0;
    acc[7] += a3 * b1;
    acc[8] += a4 * b0;
    acc[9] += a4 * b1;
    acc[10] += a5 * b0;
    acc[11] += a5 * b1;
    acc[12] += a6 * b0;
    acc[13] += a6 * b1;
    acc[14] += a7 * b0;
    acc[15] += a7 * b1;
  }
  for (var i = 0u; i < 8u; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 8u; j++) {
      let n = n0 + j;
      if (n >= p.Nn) { break; }
      let ci = p.cOff + m * p.ldc + n;
      var v = p.alpha * acc[2u * i + j / 4u][j % 4u];
      if (p.accumulate == 1u) { v += c[ci]; }
      if (p.hasBias == 1u) { v += bias[n]; }
      c[ci] = v;
    }
  }
}
