/**
 * Benchmark support: the onnxruntime-node peer (loaded lazily), the in-memory ONNX model builder,
 * and the timing/FLOP/reporting harness that times every implementation with the same code.
 * Not part of the package's main entry point; import it as 'simd-attention/dist/bench'.
 */
export * from './harness';
export * from './data';
export * from './onnx-model';
export * from './onnxruntime-peer';
export * from './suites';
