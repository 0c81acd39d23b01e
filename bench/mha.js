#!/usr/bin/env node
'use strict';
// Multi-head attention block with projections (B=1 E=768, 12 heads): prefill at L=512 and 1024,
// per-token KV-cache decode from 1024 and 4096 cached positions and from an empty cache, beside the
// same block in ORT; and forward against forwardSync for a decode step. See bench/common.js for the flags.
const { runMhaSuite } = require('../dist/bench');
const { runScript } = require('./common');

runScript('mha', (common) => runMhaSuite(common));
