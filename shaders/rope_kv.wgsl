// Rotary position embedding (Hugging Face rotate-half convention) and KV-cache write.
//   q' = q·cos + rotate_half(q)·sin,  rotate_half(v) = [−v[d/2:], v[:d/2]]
// Row r belongs to cache slot rows[2r] at position rows[2r+1]. q is rotated in place;
// k is rotated and v copied into the caches at [slot, kvHead, pos, :].
// q: [N, nH, hd]   k, v: [N, nKV, hd]   cache: [slots, nKV, maxLen, hd]   cs: [maxLen, hd/2, 2] (cos, sin)

struct Params { N: u32, nH: u32, nKV: u32, hd: u32, maxLen: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rows: array<u32>;            // [N, 2] (slot, pos)
@group(0) @binding(2) var<storage, read> cs: array<f32>;              // [maxLen, hd/2, 2]
@group(0) @binding(3) var<storage, read_write> q: array<f32>;         // [N, nH, hd]
// k and v are only read, but declared read_write: in the inference plan q, k and v are views of
// one buffer, and one dispatch may not bind a buffer both writable (q) and read-only.
@group(0) @binding(4) var<storage, read_write> k: array<f32>;         // [N, nKV, hd]
@group(0) @binding(5) var<storage, read_write> v: array<f32>;         // [N, nKV, hd]
@group(0) @binding(6) var<storage, read_write> kCache: array<f32>;    // [slots, nKV, maxLen, hd]
@group(0) @binding(7) var<storage, read_write> vCache: array<f32>;    // [slots, nKV, maxLen, hd]

/** (cos, sin) of rotation pair i at position pos, from the table. */
fn angle(pos: u32, i: u32) -> vec2<f32> {
  let at = 2u * (pos * (p.hd / 2u) + i);
  return vec2<f32>(cs[at], cs[at + 1u]);
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) g: vec3<u32>) {
  let half = p.hd / 2u;
  let i = g.x % half;          // rotation pair (i, i + half)
  let head = g.x / half;       // 0..nH-1: query heads; nH..nH+nKV-1: key/value heads
  let r = g.y;
  if (r >= p.N || head >= p.nH + p.nKV) { return; }
  let slot = rows[2u * r];
  let pos = rows[2u * r + 1u];
  let cs2 = angle(pos, i);
  let c = cs2.x;
  let s = cs2.y;
  if (head < p.nH) {
    let base = (r * p.nH + head) * p.hd;
    let a = q[base + i];
    let b = q[base + i + half];
    q[base + i] = a * c - b * s;
    q[base + i + half] = b * c + a * s;
  } else {
    let kv = head - p.nH;
    let src = (r * p.nKV + kv) * p.hd;
    let dst = ((slot * p.nKV + kv) * p.maxLen + pos) * p.hd;
    let a = k[src + i];
    let b = k[src + i + half];
    kCache[dst + i] = a * c - b * s;
    kCache[dst + i + half] = b * c + a * s;
    vCache[dst + i] = v[src + i];
    vCache[dst + i + half] = v[src + i + half];
  }
}

// Backward: the rotation is orthogonal, so the gradient is rotated back (angle −θ):
//   dv_pre[i] = dv[i]·cos + dv[i + d/2]·sin      dv_pre[i + d/2] = dv[i + d/2]·cos − dv[i]·sin
// dq is un-rotated in place; the cache gradients dKc, dVc (cache layout) are gathered back to
// rows: dk, dv [N, nKV, hd]. Rows here are a training batch: row r = slot·T + pos.
@group(0) @binding(3) var<storage, read_write> dq: array<f32>;        // [N, nH, hd] in place
@group(0) @binding(4) var<storage, read_write> dk: array<f32>;        // [N, nKV, hd]
@group(0) @binding(5) var<storage, read_write> dv: array<f32>;        // [N, nKV, hd]
@group(0) @binding(6) var<storage, read> dKc: array<f32>;             // [slots, nKV, maxLen, hd]
@group(0) @binding(7) var<storage, read> dVc: array<f32>;             // [slots, nKV, maxLen, hd]

@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) g: vec3<u32>) {
  let half = p.hd / 2u;
  let i = g.x % half;
  let head = g.x / half;
  let r = g.y;
  if (r >= p.N || head >= p.nH + p.nKV) { return; }
  let slot = rows[2u * r];
  let pos = rows[2u * r + 1u];
  let cs2 = angle(pos, i);
  let c = cs2.x;
  let s = cs2.y;
  if (head < p.nH) {
    let base = (r * p.nH + head) * p.hd;
    let a = dq[base + i];
    let b = dq[base + i + half];
    dq[base + i] = a * c + b * s;
    dq[base + i + half] = b * c - a * s;
  } else {
    let kv = head - p.nH;
    let dst = (r * p.nKV + kv) * p.hd;
    let src = ((slot * p.nKV + kv) * p.maxLen + pos) * p.hd;
    let a = dKc[src + i];
    let b = dKc[src + i + half];
    dk[dst + i] = a * c + b * s;
    dk[dst + i + half] = b * c - a * s;
    dv[dst + i] = dVc[src + i];
    dv[dst + i + half] = dVc[src + i + half];
  }
}
