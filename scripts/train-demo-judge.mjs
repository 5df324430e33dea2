#!/usr/bin/env node
// `npm run train:demo-judge` (see src/demo/train-judge.ts).
import { launch } from '../bin/launch.mjs';
await launch('train-demo-judge');
