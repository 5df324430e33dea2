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

// Backward: with σ = sigmoid(gate), silu = gate·σ, silu' = σ·(1 + gate·(1 − σ)):
//   dGate = dAct · up · silu'(gate)      dUp = dAct · silu(gate)
struct BackParams { n: u32 }
@group(0) @binding(0) var<uniform> bp: BackParams;
@group(0) @binding(1) var<storage, read> bgate: array<f32>;       // [N, I] saved forward input
@group(0) @binding(2) var<storage, read> bup: array<f32>;         // [N, I] saved forward input
@group(0) @binding(3) var<storage, read> dAct: array<f32>;        // [N, I]
@group(0) @binding(4) var<storage, read_write> dGate: array<f32>; // [N, I]
@group(0) @binding(5) var<storage, read_write> dUp: array<f32>;   // [N, I]

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = g.x + g.y * nw.x * 256u;
  if (i >= bp.n) { return; }
  let z = bgate[i];
  let s = 1.0 / (1.0 + exp(-z));
  dGate[i] = dAct[i] * bup[i] * s * (1.0 + z * (1.0 - s));
  dUp[i] = dAct[i] * z * s;
}
