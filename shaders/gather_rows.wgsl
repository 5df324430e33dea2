// Copies selected rows: out[b, :] = x[idx[b], :]. Picks each sequence's last row before the LM head.
// x: [N, H]   idx: [B]   out: [B, H]

struct Params { B: u32, H: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> idx: array<u32>;        // [B]
@group(0) @binding(2) var<storage, read> x: array<f32>;          // [N, H]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // [B, H]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let h = g.x;
  let b = g.y;
  if (h >= p.H || b >= p.B) { return; }
  out[b * p.H + h] = x[idx[b] * p.H + h];
}
