/**
 * A weight packed once: W [N, K] of a linear layer y = x W^T, laid out as the panels the active
 * ISA's matmul micro-kernel reads (native/kernels/matmul.h, PackedPanels), so that a matmul with it
 * skips re-packing W on every call. Internal: MultiHeadAttention packs its projections at load.
 */
import { native } from './binding';
import { rangeError } from './errors';
import { allocFloat32HugeAdvised } from './huge-pages';
import { descriptorFor, PACK_WEIGHT } from './native-layout';
import { formatShape } from './shape';
import { Tensor } from './tensor';
import { expectTensor } from './validate';

/** The panels this process packs: the active ISA and its panel width (fixed for the process). */
let active: { isa: string; panelWidth: number } | null = null;

export function activePanels(): { isa: string; panelWidth: number } {
  if (active === null) active = { isa: native().backendInfo().isa, panelWidth: native().matmulPanelWidth() };
  return active;
}

/** Floats of N x K in panels of `panelWidth` columns of W^T (the last panel zero-padded). */
function panelFloats(N: number, K: number, panelWidth: number): number {
  return Math.ceil(N / panelWidth) * panelWidth * K;
}

export class PackedWeight {
  /**
   * @param data the panels: ceil(N / panelWidth) panels of K x panelWidth floats
   * @param N rows of W (output features); K columns of W (input features)
   * @param panelWidth and isa: the geometry it was packed in, checked against the active one on use
   */
  constructor(
    readonly data: Float32Array,
    readonly N: number,
    readonly K: number,
    readonly panelWidth: number,
    readonly isa: string,
  ) {}

  /**
   * Rows [start, start + count) of W as a weight sharing these panels, or null when start does not
   * fall on a panel boundary (a fused QKV weight split into its Q, K and V parts).
   */
  rows(start: number, count: number): PackedWeight | null {
    if (start % this.panelWidth !== 0 || start + count > this.N) return null;
    const from = (start / this.panelWidth) * this.panelWidth * this.K;
    const data = this.data.subarray(from, from + panelFloats(count, this.K, this.panelWidth));
    return new PackedWeight(data, count, this.K, this.panelWidth, this.isa);
  }

  /** Refuses a weight packed for other panels than the active ISA's, or too short for N x K. */
  check(op: string): void {
    const { isa, panelWidth } = activePanels();
    if (this.isa !== isa || this.panelWidth !== panelWidth) {
      throw rangeError(
        'ERR_INVALID_WEIGHTS',
        `${op}: the weight [${this.N}, ${this.K}] was packed for ${this.isa} (panels of ${this.panelWidth}) ` +
          `but the active ISA is ${isa} (panels of ${panelWidth}); pack it again`,
      );
    }
    const need = panelFloats(this.N, this.K, this.panelWidth);
    if (this.data.length < need) {
      throw rangeError(
        'ERR_INVALID_WEIGHTS',
        `${op}: the packed weight [${this.N}, ${this.K}] holds ${this.data.length} floats but needs ${need}`,
      );
    }
  }
}

/** Packs w: float32 [N, K], the weight of y = x W^T (any strides; a copy is made when needed). */
export function packWeight(wIn: Tensor, op = 'packWeight', name = 'weight'): PackedWeight {
  let w = expectTensor(wIn, name, ['float32'], op) as Tensor<Float32Array>;
  if (w.rank !== 2) {
    throw rangeError('ERR_INVALID_SHAPE', `${op}: ${name} must be [N, K] but has shape ${formatShape(w.shape)}`);
  }
  const [N, K] = w.shape;
  if (K > 1 && w.strides[1] !== 1) w = w.contiguous();
  const { isa, panelWidth } = activePanels();
  // Read whole by every product with it, for as long as the module lives: 2 MiB pages (from 2 MiB on)
  // spare the streams of its panels a page walk every 4 KiB.
  const out = allocFloat32HugeAdvised(panelFloats(N, K, panelWidth), `the packed ${name}`);
  const F = PACK_WEIGHT.fields;
  const d = descriptorFor(PACK_WEIGHT);
  d[F.N] = N;
  d[F.K] = K;
  d[F.offset] = w.offset;
  d[F.ld] = N > 1 ? w.strides[0] : K;
  native().packWeight({ weight: w.data, out }, d);
  return new PackedWeight(out, N, K, panelWidth, isa);
}
