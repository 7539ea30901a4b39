#!/usr/bin/env node
// `kubectl liveupdate …`: kubectl finds this executable on PATH as kubectl-liveupdate and runs it with the words after
// "liveupdate". The command tree is the `liveupdate` binary's own, shown under the name users typed.
import { buildProgram, runProgram } from './program';

void runProgram(buildProgram('kubectl liveupdate'), process.argv.slice(2));
