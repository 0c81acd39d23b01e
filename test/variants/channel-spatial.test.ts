/**
 * Squeeze-and-excitation and CBAM against float64 references written from the papers: global
 * average (and max) pooling, the bottleneck MLP, the sigmoid gates, CBAM's channel-wise mean/max map
 * and its k x k convolution with zero padding (as torch.nn.Conv2d, cross-correlation). Odd sizes,
 * feature maps smaller than the kernel, strided views, sync = async, typed errors.
 */
import { backendInfo, CBAM, SqueezeExcitation, Tensor } from '../../lib';
import { at, expectClose, randomTensor, rng } from '../helpers';

const isa = backendInfo().isa;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** relu(x W1^T + b1) W2^T + b2 for one pooled vector. */
function mlp(p: number[], W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor): number[] {
  const hidden = W1.shape[0],
    C = W2.shape[0];
  const h = Array.from({ length: hidden }, (_, j) =>
    Math.max(0, at(b1, j) + p.reduce((s, v, c) => s + v * at(W1, j, c), 0)),
  );
  return Array.from({ length: C }, (_, c) => at(b2, c) + h.reduce((s, v, j) => s + v * at(W2, c, j), 0));
}

function pooled(x: Tensor, b: number, kind: 'avg' | 'max'): number[] {
  const [, C, H, W] = x.shape;
  return Array.from({ length: C }, (_, c) => {
    let s = 0,
      m = -Infinity;
    for (let y = 0; y < H; ++y)
      for (let xx = 0; xx < W; ++xx) {
        const v = at(x, b, c, y, xx);
        s += v;
        m = Math.max(m, v);
      }
    return kind === 'avg' ? s / (H * W) : m;
  });
}

function seReference(x: Tensor, w: Record<string, Tensor>): Float64Array {
  const [B, C, H, W] = x.shape;
  const out = new Float64Array(B * C * H * W);
  for (let b = 0; b < B; ++b) {
    const s = mlp(pooled(x, b, 'avg'), w['fc1.weight'], w['fc1.bias'], w['fc2.weight'], w['fc2.bias']).map(sigmoid);
    for (let c = 0; c < C; ++c)
      for (let y = 0; y < H; ++y)
        for (let xx = 0; xx < W; ++xx) out[((b * C + c) * H + y) * W + xx] = at(x, b, c, y, xx) * s[c];
  }
  return out;
}

function cbamReference(x: Tensor, w: Record<string, Tensor>, k: number): Float64Array {
  const [B, C, H, W] = x.shape,
    pad = Math.floor(k / 2);
  const out = new Float64Array(B * C * H * W);
  const bias = w['spatial.conv.bias'] ? at(w['spatial.conv.bias'], 0) : 0;
  for (let b = 0; b < B; ++b) {
    const f = (p: number[]) =>
      mlp(p, w['channel.fc1.weight'], w['channel.fc1.bias'], w['channel.fc2.weight'], w['channel.fc2.bias']);
    const avg = f(pooled(x, b, 'avg')),
      max = f(pooled(x, b, 'max'));
    const mc = avg.map((v, c) => sigmoid(v + max[c]));
    const xc = (c: number, y: number, xx: number) => at(x, b, c, y, xx) * mc[c];
    const maps = [0, 1].map((ci) =>
      Array.from({ length: H }, (_, y) =>
        Array.from({ length: W }, (_, xx) => {
          let s = 0,
            m = -Infinity;
          for (let c = 0; c < C; ++c) {
            s += xc(c, y, xx);
            m = Math.max(m, xc(c, y, xx));
          }
          return ci === 0 ? s / C : m;
        }),
      ),
    );
    for (let y = 0; y < H; ++y)
      for (let xx = 0; xx < W; ++xx) {
        let acc = bias;
        for (let ci = 0; ci < 2; ++ci)
          for (let dy = 0; dy < k; ++dy)
            for (let dx = 0; dx < k; ++dx) {
              const sy = y + dy - pad,
                sx = xx + dx - pad;
              if (sy >= 0 && sy < H && sx >= 0 && sx < W)
                acc += at(w['spatial.conv.weight'], 0, ci, dy, dx) * maps[ci][sy][sx];
            }
        const ms = sigmoid(acc);
        for (let c = 0; c < C; ++c) out[((b * C + c) * H + y) * W + xx] = xc(c, y, xx) * ms;
      }
  }
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
}

describe(`SqueezeExcitation (${isa})`, () => {
  const r = rng(20);
  const C = 6,
    hidden = 3;
  const weights = {
    'fc1.weight': randomTensor([hidden, C], r),
    'fc1.bias': randomTensor([hidden], r),
    'fc2.weight': randomTensor([C, hidden], r),
    'fc2.bias': randomTensor([C], r),
  };

  test('pool, bottleneck, sigmoid, scale: odd H and W; a strided view; sync = async', async () => {
    const se = new SqueezeExcitation({ channels: C, reduction: 2 }).loadWeights(weights);
    expect(se.hidden).toBe(hidden);
    const x = randomTensor([2, C, 5, 37], r, 3);
    const y = se.forwardSync(x);
    expect(y.shape).toEqual([2, C, 5, 37]);
    expectClose(y.data, seReference(x, weights), 1e-5, 1e-5, 'SE');
    expect(Array.from((await se.forward(x)).data)).toEqual(Array.from(y.data));
    // Channels 1..6 of an 8-channel map: a view with the batch stride of 8 channels.
    const wide = randomTensor([2, 8, 4, 3], r);
    const view = wide.narrow(1, 1, C);
    expectClose(se.forwardSync(view).data, seReference(view, weights), 1e-5, 1e-5, 'SE view');
  });

  test('typed errors', () => {
    const se = new SqueezeExcitation({ channels: C, reduction: 2 });
    expect(codeOf(() => se.forwardSync(randomTensor([1, C, 2, 2], r)))).toBe('ERR_INVALID_WEIGHTS');
    expect(codeOf(() => se.loadWeights({ ...weights, 'fc1.weight': randomTensor([C, hidden], r) }))).toBe(
      'ERR_INVALID_WEIGHTS',
    );
    expect(codeOf(() => se.loadWeights({ ...weights, 'fc2.bias': undefined as never }))).toBe('ERR_INVALID_WEIGHTS');
    se.loadWeights(weights);
    expect(codeOf(() => se.forwardSync(randomTensor([1, C + 1, 2, 2], r)))).toBe('ERR_SHAPE_MISMATCH');
    expect(codeOf(() => se.forwardSync(randomTensor([C, 2, 2], r)))).toBe('ERR_SHAPE_MISMATCH');
    const t = randomTensor([1, C, 2, 4], r);
    const columns = new Tensor(t.data, [1, C, 2, 2], { strides: [C * 8, 8, 4, 2] });
    expect(codeOf(() => se.forwardSync(columns))).toBe('ERR_NOT_CONTIGUOUS');
    expect(codeOf(() => new SqueezeExcitation({ channels: 4, reduction: 8 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new SqueezeExcitation({ channels: 4, reduction: 1.5 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(() => se.loadWeights({ ...weights, 'fc1.weight': randomTensor([C, hidden], r) })).toThrow(
      /'fc1.weight' must be \[3, 6\]/,
    );
  });
});

describe(`CBAM (${isa})`, () => {
  const r = rng(21);
  const C = 10,
    reduction = 3,
    hidden = 3;
  const mlpWeights = {
    'channel.fc1.weight': randomTensor([hidden, C], r),
    'channel.fc1.bias': randomTensor([hidden], r),
    'channel.fc2.weight': randomTensor([C, hidden], r),
    'channel.fc2.bias': randomTensor([C], r),
  };

  test('channel then spatial attention, k = 7 with a bias, odd sizes; sync = async', async () => {
    const weights = {
      ...mlpWeights,
      'spatial.conv.weight': randomTensor([1, 2, 7, 7], r, 0.3),
      'spatial.conv.bias': randomTensor([1], r),
    };
    const cbam = new CBAM({ channels: C, reduction }).loadWeights(weights);
    expect(cbam.kernelSize).toBe(7);
    const x = randomTensor([2, C, 9, 19], r, 2);
    const y = cbam.forwardSync(x);
    expectClose(y.data, cbamReference(x, weights, 7), 1e-5, 1e-4, 'CBAM k=7');
    expect(Array.from((await cbam.forward(x)).data)).toEqual(Array.from(y.data));
  });

  test('k = 3 without a bias; maps smaller than the kernel (3 x 2 with k = 7); a strided view', () => {
    const w3 = { ...mlpWeights, 'spatial.conv.weight': randomTensor([1, 2, 3, 3], r) };
    const x = randomTensor([1, C, 6, 17], r);
    expectClose(
      new CBAM({ channels: C, reduction, kernelSize: 3 }).loadWeights(w3).forwardSync(x).data,
      cbamReference(x, w3, 3),
      1e-5,
      1e-4,
      'k=3',
    );
    const w7 = { ...mlpWeights, 'spatial.conv.weight': randomTensor([1, 2, 7, 7], r) };
    const small = randomTensor([3, C, 3, 2], r);
    expectClose(
      new CBAM({ channels: C, reduction }).loadWeights(w7).forwardSync(small).data,
      cbamReference(small, w7, 7),
      1e-5,
      1e-4,
      'small map',
    );
    const tall = randomTensor([1, C, 8, 5], r);
    const rows = tall.narrow(2, 2, 5); // rows 2..6: strided in H
    expectClose(
      new CBAM({ channels: C, reduction }).loadWeights(w7).forwardSync(rows).data,
      cbamReference(rows, w7, 7),
      1e-5,
      1e-4,
      'view',
    );
  });

  test('typed errors', () => {
    expect(codeOf(() => new CBAM({ channels: C, reduction, kernelSize: 4 }))).toBe('ERR_INVALID_ARGUMENT');
    const cbam = new CBAM({ channels: C, reduction });
    expect(
      codeOf(() => cbam.loadWeights({ ...mlpWeights, 'spatial.conv.weight': randomTensor([1, 2, 3, 3], r) })),
    ).toBe('ERR_INVALID_WEIGHTS');
    expect(
      codeOf(() =>
        cbam.loadWeights({
          ...mlpWeights,
          'spatial.conv.weight': randomTensor([1, 2, 7, 7], r),
          'spatial.conv.bias': randomTensor([2], r),
        }),
      ),
    ).toBe('ERR_INVALID_WEIGHTS');
    expect(codeOf(() => cbam.loadWeights(null as never))).toBe('ERR_INVALID_WEIGHTS');
    expect(codeOf(() => cbam.forwardSync(randomTensor([1, C, 3, 3], r)))).toBe('ERR_INVALID_WEIGHTS');
  });
});
