#!/usr/bin/env node
'use strict';
// Square matmuls 64..2048 and the attention-shaped products, beside ORT MatMul. See bench/common.js.
const { runMatmulSuite } = require('../dist/bench');
const { runScript } = require('./common');

runScript('matmul', (common) => runMatmulSuite(common));
