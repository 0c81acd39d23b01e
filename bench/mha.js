#!/usr/bin/env node
'use strict';
// Multi-head attention block with projections (B=1 L=1024 E=768, 12 heads) and a 256-token KV-cache
// decode, beside the same block in ORT. See bench/common.js for the flags.
const { runMhaSuite } = require('../dist/bench');
const { runScript } = require('./common');

runScript('mha', (common) => runMhaSuite(common));
