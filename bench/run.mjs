#!/usr/bin/env node
// `npm run bench` (see bench/bench.ts).
import { launch } from '../bin/launch.mjs';
await launch('bench');
