#!/usr/bin/env node
'use strict';
// One query against Lk = 1024..65536 cached keys (B=1 H=12 d=64): ms, GFLOP/s and GB/s, beside ORT
// Attention without past and ORT's decode model with past. See bench/common.js for the flags.
const { runDecodeSuite } = require('../dist/bench');
const { runScript } = require('./common');

runScript('decode', (common) => runDecodeSuite(common));
