#!/usr/bin/env node
'use strict';
// Prefill attention B=1 H=12 d=64, L = 128..4096, causal and not, beside ORT Attention (opset 23)
// and com.microsoft MultiHeadAttention. See bench/common.js for the flags.
const { runSdpaSuite } = require('../dist/bench');
const { runScript } = require('./common');

runScript('sdpa', (common) => runSdpaSuite(common));
