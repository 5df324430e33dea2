import { defineConfig } from 'vite';

// Bundles the Node entry points (WGSL inlined through ?raw) into dist-cli/: main.js (the `tpo`
// CLI), bench.js (`npm run bench`) and gpu-check.js (engine checks on a real GPU). bin/launch.mjs rebuilds them when sources change.
export default defineConfig({
  logLevel: 'warn',
  publicDir: false,
  build: {
    ssr: true,
    outDir: 'dist-cli',
    target: 'node20',
    emptyOutDir: true,
    rollupOptions: {
      input: {
        main: 'src/cli/main.ts',
        bench: 'bench/bench.ts',
        'gpu-check': 'bench/gpu-check.ts',
        'train-demo': 'src/demo/train-demo.ts',
        'train-demo-rm': 'src/demo/train-rm.ts',
        'train-demo-judge': 'src/demo/train-judge.ts',
        experiment: 'src/demo/experiment.ts',
      },
      output: { entryFileNames: '[name].js' },
    },
  },
});
