/**
 * The benchmark tools: the timing/FLOP/reporting harness, the suites, the onnxruntime-node peer
 * and its in-memory ONNX models (./peers, loaded lazily), and the benchmark chart.
 * Not part of the library: the `simd-attention` bin and the bench/*.js scripts load it from dist/bench.
 */
export * from './harness';
export * from './data';
export * from './peers/onnx-proto';
export * from './peers/onnx-model';
export * from './peers/onnxruntime-peer';
export * from './suites';
export * from './benchmark-chart';
