// General strided matrix product, the one linear-algebra kernel of training:
//   C[m, n] = alpha · Σ_k A[m, k] · B[k, n]  (+ C[m, n] when accumulate = 1) (+ bias[n] when hasBias = 1)
// A[m, k] = a[aOff + m·sAm + k·sAk]   B[k, n] = b[k·sBk + n·sBn]   C[m, n] = c[cOff + m·ldc + n]
// (aOff/cOff address a column block, e.g. one vocabulary chunk of the logits.)
// With strides every pass of a linear layer y = x·Wᵀ (W stored [out, in]) is one call:
//   forward      y[N,O]  = x[N,K] · Wᵀ     A = x (K, 1)   B = W viewed [K, O] (1, K)
//   input grad   dx[N,K] = dy[N,O] · W     A = dy (O, 1)  B = W (K, 1)
//   weight grad  dW[O,K] = dyᵀ · x         A = dy viewed [O, N] (1, O)  B = x (K, 1)
// Tiles of 32×32 outputs, 256 threads with 2×2 outputs each, K stepped by 16 through
// workgroup memory. B may be a (16-bit) weight; A and C are always f32.
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
// which a CPU emulates at great cost; each thread reads A and B straight from storage for a
// 4×4 block of C (8 loads per 16 multiply-adds). 64 threads cover the same 32×32 tile, so the
// dispatch grid is the same as main's.
@compute @workgroup_size(64)
fn serial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let m0 = wg.y * TS + (t / 8u) * 4u;
  let n0 = wg.x * TS + (t % 8u) * 4u;
  if (m0 >= p.M || n0 >= p.Nn) { return; }
  // Rows and columns past the edge read the last valid one (no branch in the loop) and are not written.
  var ra = vec4<u32>(0u);
  var cb = vec4<u32>(0u);
  for (var i = 0u; i < 4u; i++) {
    ra[i] = p.aOff + min(m0 + i, p.M - 1u) * p.sAm;
    cb[i] = min(n0 + i, p.Nn - 1u) * p.sBn;
  }
  var acc: array<vec4<f32>, 4>; // acc[i][j] = C[m0 + i, n0 + j]
  for (var k = 0u; k < p.K; k++) {
    let ak = k * p.sAk;
    let bk = k * p.sBk;
    let bv = vec4<f32>(bAt(bk + cb.x), bAt(bk + cb.y), bAt(bk + cb.z), bAt(bk + cb.w));
    acc[0] += a[ra.x + ak] * bv;
    acc[1] += a[ra.y + ak] * bv;
    acc[2] += a[ra.z + ak] * bv;
    acc[3] += a[ra.w + ak] * bv;
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= p.Nn) { break; }
      let ci = p.cOff + m * p.ldc + n;
      var v = p.alpha * acc[i][j];
      if (p.accumulate == 1u) { v += c[ci]; }
      if (p.hasBias == 1u) { v += bias[n]; }
      c[ci] = v;
    }
  }
}
