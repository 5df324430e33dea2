#!/usr/bin/env node
// `npm run experiment` (see src/demo/experiment.ts).
import { launch } from '../bin/launch.mjs';
await launch('experiment');
