// SwiGLU activation of the Llama MLP:  act[r, i] = silu(gate[r, i]) · up[r, i],  silu(z) = z / (1 + e^(−z))
// gate, up, act: [N, I]  (flattened; n = N·I)

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;      // [N, I]
@group(0) @binding(2) var<storage, read> up: array<f32>;        // [N, I]
@group(0) @binding(3) var<storage, read_write> act: array<f32>; // [N, I]

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = g.x + g.y * nw.x * 256u;
  if (i >= p.n) { return; }
  let z = gate[i];
  act[i] = z / (1.0 + exp(-z)) * up[i];
}
