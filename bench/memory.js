#!/usr/bin/env node
'use strict';
// Issue 3: peak memory of one causal attention call at L = 32768 (H=1, d=64) beyond its inputs and
// output, measured in a fresh child process per thread count. See bench/common.js for the flags.
const { runMemorySuite } = require('../dist/bench');
const { runScript } = require('./common');

runScript('memory', (common) => runMemorySuite(common));
