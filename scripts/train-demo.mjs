#!/usr/bin/env node
// `npm run train:demo` (see src/demo/train-demo.ts).
import { launch } from '../bin/launch.mjs';
await launch('train-demo');
