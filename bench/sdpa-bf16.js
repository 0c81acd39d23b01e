#!/usr/bin/env node
'use strict';
// Prefill attention over bfloat16 query, key and value beside the same call in float32 (L = 1024,
// B=1 H=12 d=64), timed alternately. See bench/common.js for the flags.
const { runSdpaBf16Suite } = require('../dist/bench');
const { runScript } = require('./common');

runScript('sdpa-bf16', (common) => runSdpaBf16Suite(common));
