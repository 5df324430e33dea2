#!/usr/bin/env node
// `npm run gpu-check` (see bench/gpu-check.ts).
import { launch } from '../bin/launch.mjs';
await launch('gpu-check');
