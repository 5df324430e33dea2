#!/usr/bin/env node
// `npm run train:demo-rm` (see src/demo/train-rm.ts).
import { launch } from '../bin/launch.mjs';
await launch('train-demo-rm');
