/** SVG renderers: self-contained SVG text (no external fonts, images or scripts). */
export { renderHeatmapSVG } from './heatmap';
export type { HeatmapOptions, HeatmapWeights } from './heatmap';
export { renderBenchmarkSVG, chartX } from './benchmark-chart';
export type { BenchmarkChartOptions } from './benchmark-chart';
