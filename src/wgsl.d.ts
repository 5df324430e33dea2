// Vite's ?raw imports of the WGSL shaders (gpu/shaders.ts): each file's text as a string.
declare module '*.wgsl?raw' {
  const src: string;
  export default src;
}
