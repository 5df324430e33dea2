import { defineConfig } from 'vite';

// Bundles the Node CLI (src/cli/main.ts, WGSL inlined through ?raw) into dist-cli/main.js.
// Runs on `npm install` (prepare) and again by bin/tpo.mjs when sources are newer than the bundle.
export default defineConfig({
  logLevel: 'warn',
  publicDir: false,
  build: {
    ssr: 'src/cli/main.ts',
    outDir: 'dist-cli',
    target: 'node20',
    emptyOutDir: true,
    rollupOptions: { output: { entryFileNames: 'main.js' } },
  },
});
