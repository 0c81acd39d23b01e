/**
 * The benchmark suites, shared by the `simd-attention bench` command and the bench/ scripts. Each
 * suite takes shapes, thread counts, a time budget and a compare flag, reports progress through a
 * callback, and returns SuiteResult[] (harness BenchResult + role, baseline, speedup, gbPerSec).
 */
export * from './common';
export { checkPeerOutput, PEER_TOLERANCE } from './measure';
export * from './matmul';
export * from './sdpa';
export * from './sdpa-bf16';
export * from './decode';
export * from './mha';
export * from './memory';
export * from './linear';
export * from './window';
export * from './positional';
export * from './serve';
export * from './quick';
export * from './report';
export { buildDecodeBlockModel, OrtDecodeBlockLoop } from '../peers/decode-block-model';
export type { DecodeBlockModelOptions } from '../peers/decode-block-model';
export * from './document';
