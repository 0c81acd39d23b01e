#!/usr/bin/env node
'use strict';
// Continuous batching: one decode step of 16 sequences (lengths spread over 16..512 and 100..4000)
// through one MultiHeadAttention layer (E=768, 12 heads) as one batched forward on a 16-row KVCache,
// against the same 16 decoded one at a time on caches of their own, per token, timed alternately.
// See bench/common.js for the flags.
const { runServeSuite } = require('../dist/bench');
const { runScript } = require('./common');

runScript('serve', (common) => runServeSuite(common));
