// Embedding gather.  x[N, H] = E[ids[r] - rowStart, :] for ids inside this chunk of E.
// E may be split into row chunks (Qwen2.5's 151936×896 table does not fit one binding):
// each chunk is a dispatch that writes only the rows whose id falls in [rowStart, rowStart+chunkRows).
// Forward only: the embedding is frozen in training.
alias WT = f32; // replaced by f16 when weights are stored in half precision

struct Params { N: u32, H: u32, rowStart: u32, chunkRows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;        // [N]
@group(0) @binding(2) var<storage, read> E: array<WT>;           // [chunkRows, H]
@group(0) @binding(3) var<storage, read_write> x: array<f32>;    // [N, H]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let h = g.x;
  let r = g.y;
  if (h >= p.H || r >= p.N) { return; }
  let id = ids[r];
  if (id < p.rowStart || id >= p.rowStart + p.chunkRows) { return; }
  x[r * p.H + h] = f32(E[(id - p.rowStart) * p.H + h]);
}
