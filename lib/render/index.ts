/** The attention-weights heatmap: self-contained SVG text (no external fonts, images or scripts). */
export { renderHeatmapSVG } from './heatmap';
export type { HeatmapOptions, HeatmapWeights } from './heatmap';
