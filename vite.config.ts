import { defineConfig } from 'vite';

// `base: './'` makes the built site work from any static host under any sub-path.
export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: { target: 'es2022' },
});
