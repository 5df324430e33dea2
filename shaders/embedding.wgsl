// Embedding gather.  x[N, H] = E[ids[r] - rowStart, :] for ids inside this chunk of E.
// E may be split into row chunks (Qwen2.5's 151936×896 table does not fit one binding):
// each chunk is a dispatch that writes only the rows whose id falls in [rowStart, rowStart+chunkRows).
// Forward only: the embedding is frozen in training.
// Weight storage: f32 here. gpu/shaders.ts swaps these three lines to keep 16-bit checkpoints
// 16-bit on every adapter: two bf16 or f16 values packed in each u32, unpacked to f32 on load
// (all arithmetic and accumulation stay f32).
alias WT = f32;
const PACK: u32 = 1u; // weights per WT element
fn unpackWT(v: WT, i: u32) -> f32 { return v; }

struct Params { N: u32, H: u32, rowStart: u32, chunkRows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;        // [N]
@group(0) @binding(2) var<storage, read> E: array<WT>;           // [chunkRows, H]
@group(0) @binding(3) var<storage, read_write> x: array<f32>;    // [N, H]

fn embedAt(i: u32) -> f32 { return unpackWT(E[i / PACK], i); }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let h = g.x;
  let r = g.y;
  if (h >= p.H || r >= p.N) { return; }
  let id = ids[r];
  if (id < p.rowStart || id >= p.rowStart + p.chunkRows) { return; }
  x[r * p.H + h] = embedAt((id - p.rowStart) * p.H + h);
}

// Backward (full-parameter training): dE[id, :] += Σ_{rows r with ids[r] = id} dx[r, :].
// The host groups rows by token id (a stable sort), so each workgroup owns one distinct id and
// no two workgroups write the same row of dE: rows[seg[u] .. seg[u+1]) all hold id uniq[u].
struct BackParams { U: u32, H: u32 }
@group(0) @binding(0) var<uniform> bp: BackParams;
@group(0) @binding(1) var<storage, read> uniq: array<u32>;          // [U] distinct ids
@group(0) @binding(2) var<storage, read> seg: array<u32>;           // [U + 1] segment starts
@group(0) @binding(3) var<storage, read> byId: array<u32>;          // [N] rows sorted by id
@group(0) @binding(4) var<storage, read> dx: array<f32>;            // [N, H]
@group(0) @binding(5) var<storage, read_write> dE: array<f32>;      // [V, H]

@compute @workgroup_size(64)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let u = wg.x;
  if (u >= bp.U) { return; }
  let id = uniq[u];
  for (var h = t; h < bp.H; h += 64u) {
    var s = 0.0;
    for (var j = seg[u]; j < seg[u + 1u]; j++) { s += dx[byId[j] * bp.H + h]; }
    dE[id * bp.H + h] += s;
  }
}
