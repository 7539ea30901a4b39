#!/usr/bin/env node
// `liveupdate`: the package's one binary. The same command tree runs as `kubectl liveupdate` (kubectl-liveupdate.ts).
import { buildProgram, runProgram } from './program';

void runProgram(buildProgram('liveupdate'), process.argv.slice(2));
