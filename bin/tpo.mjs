#!/usr/bin/env node
// The `tpo` command (see src/cli/main.ts).
import { launch } from './launch.mjs';
await launch('main');
