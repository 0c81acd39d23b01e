#!/usr/bin/env node
'use strict';
// Factorized positional attention of rank r (16, 64) against scaledDotProductAttention with dk = r at
// the same L (1024, 4096), B=1 H=12 dv=64, timed alternately; and the peak memory of one causal call at
// L = 16384 in a fresh process. See bench/common.js for the flags.
const { runPositionalSuite } = require('../dist/bench');
const { runScript } = require('./common');

runScript('positional', (common) => runPositionalSuite(common));
