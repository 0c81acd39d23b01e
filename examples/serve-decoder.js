// An HTTP server generating tokens for many requests at once with a small decoder of random weights
// (continuous batching): one batched decode step per tick over the sequences in progress; requests
// join (their prompts prefilled into free cache rows) and leave (their rows reset) between ticks.
//
//   node examples/serve-decoder.js [--port 8080]
//   curl -d '{"prompt": [1, 2, 3], "maxTokens": 8}' localhost:8080/generate    -> {"tokens":[...]}
//   node examples/serve-decoder.js --selftest
//     serves concurrent requests on a free port, checks each against the same request generated
//     alone, prints OK and exits
const http = require('node:http');
const { KVCache, MultiHeadAttention, Tensor } = require('simd-attention');

const VOCAB = 64,
  E = 32,
  HEADS = 4,
  LAYERS = 2,
  HIDDEN = 64;
const MAX_BODY = 1 << 20;

/** Uniform numbers in [-scale, scale) from a seeded linear congruential generator. */
function seededUniform(seed) {
  let s = seed >>> 0;
  return (n, scale) =>
    Float32Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s / 2 ** 32 - 0.5) * 2 * scale;
    });
}

/** out[r] = w [rows, cols] times x[r] [cols], for each of x's n rows. */
function linear(x, n, w, rows, cols) {
  const out = new Float32Array(n * rows);
  for (let r = 0; r < n; ++r) {
    for (let i = 0; i < rows; ++i) {
      let sum = 0;
      for (let j = 0; j < cols; ++j) sum += w[i * cols + j] * x[r * cols + j];
      out[r * rows + i] = sum;
    }
  }
  return out;
}

function rmsNorm(x) {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length; r += E) {
    let sum = 0;
    for (let j = 0; j < E; ++j) sum += x[r + j] * x[r + j];
    const scale = 1 / Math.sqrt(sum / E + 1e-6);
    for (let j = 0; j < E; ++j) out[r + j] = x[r + j] * scale;
  }
  return out;
}

/**
 * A pre-norm transformer decoder: token embedding plus sinusoidal position, LAYERS blocks of
 * MultiHeadAttention and a ReLU MLP, then logits over the vocabulary. Greedy: the next token is the argmax.
 */
class TinyDecoder {
  constructor(seed) {
    const uniform = seededUniform(seed);
    this.embedding = uniform(VOCAB * E, 1);
    this.unembedding = uniform(VOCAB * E, 1);
    const w = 1 / Math.sqrt(E);
    this.layers = Array.from({ length: LAYERS }, () => ({
      attention: new MultiHeadAttention({ embedDim: E, numHeads: HEADS }).loadStateDict({
        in_proj_weight: new Tensor(uniform(3 * E * E, w), [3 * E, E]),
        in_proj_bias: new Tensor(uniform(3 * E, 0.1), [3 * E]),
        'out_proj.weight': new Tensor(uniform(E * E, w), [E, E]),
        'out_proj.bias': new Tensor(uniform(E, 0.1), [E]),
      }),
      up: uniform(HIDDEN * E, w),
      down: uniform(E * HIDDEN, 1 / Math.sqrt(HIDDEN)),
    }));
  }

  /** One KVCache per layer, `batch` rows of `capacity` positions. */
  createCaches(batch, capacity) {
    return this.layers.map(() => new KVCache({ batch, numKeyValueHeads: HEADS, headDim: E / HEADS, capacity }));
  }

  /** [B, L, E] inputs of B token rows padded to L (padding is token 0), row b starting at starts[b]. */
  embed(rows, L, starts) {
    const x = new Float32Array(rows.length * L * E);
    rows.forEach((tokens, b) => {
      for (let t = 0; t < L; ++t) {
        const at = (b * L + t) * E;
        x.set(this.embedding.subarray((tokens[t] ?? 0) * E, ((tokens[t] ?? 0) + 1) * E), at);
        for (let j = 0; j < E; j += 2) {
          const angle = (starts[b] + t) / 10000 ** (j / E);
          x[at + j] += Math.sin(angle);
          x[at + j + 1] += Math.cos(angle);
        }
      }
    });
    return x;
  }

  /**
   * Runs the blocks over x [B, L, E], appending to `caches` as `options` say (cacheRows, inputLengths),
   * and returns the next token after position lasts[b] of each row b.
   */
  async nextTokens(x, B, L, caches, options, lasts) {
    for (let l = 0; l < LAYERS; ++l) {
      const { attention, up, down } = this.layers[l];
      const normed = new Tensor(rmsNorm(x), [B, L, E]);
      const { output } = await attention.forward(normed, normed, normed, { cache: caches[l], ...options });
      for (let i = 0; i < x.length; ++i) x[i] += output.data[i];
      const hidden = linear(rmsNorm(x), B * L, up, HIDDEN, E).map((v) => Math.max(v, 0));
      const mlp = linear(hidden, B * L, down, E, HIDDEN);
      for (let i = 0; i < x.length; ++i) x[i] += mlp[i];
    }
    return lasts.map((t, b) => {
      const last = rmsNorm(x.subarray((b * L + t) * E, (b * L + t + 1) * E));
      const logits = linear(last, 1, this.unembedding, VOCAB, E);
      return logits.indexOf(Math.max(...logits));
    });
  }
}

/** Generates one request on caches of its own (batch 1): the reference the server must match. */
async function generateAlone(model, prompt, maxTokens) {
  const caches = model.createCaches(1, prompt.length + maxTokens);
  const L = prompt.length;
  const tokens = await model.nextTokens(model.embed([prompt], L, [0]), 1, L, caches, {}, [L - 1]);
  while (tokens.length < maxTokens) {
    const x = model.embed([[tokens[tokens.length - 1]]], 1, [L + tokens.length - 1]);
    tokens.push(...(await model.nextTokens(x, 1, 1, caches, {}, [0])));
  }
  return tokens;
}

/**
 * Continuous batching over `maxSequences` cache rows: each tick admits waiting requests into free rows
 * (one batched prefill, prompts padded, inputLengths), then decodes one token for every active row.
 */
class Scheduler {
  constructor(model, { maxSequences, capacity }) {
    this.model = model;
    this.maxSequences = maxSequences;
    this.capacity = capacity;
    this.startAfresh();
    this.waiting = [];
    this.running = false;
    this.widestStep = 0;
  }

  /** Resolves to the maxTokens generated tokens of `prompt` (checked by the caller). */
  generate(prompt, maxTokens) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ prompt, maxTokens, tokens: [], row: -1, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  async run() {
    this.running = true;
    while (this.waiting.length > 0 || this.active.length > 0) {
      const admitted = this.waiting.splice(0, this.freeRows.length);
      for (const seq of admitted) seq.row = this.freeRows.pop();
      try {
        if (admitted.length > 0) await this.prefill(admitted);
        this.active.push(...admitted);
        this.leave();
        if (this.active.length > 0) await this.decodeStep();
        this.leave();
      } catch (e) {
        // A failed step fails every sequence in it; the caches start afresh for the waiting requests.
        for (const seq of new Set([...this.active, ...admitted])) if (seq.row >= 0) seq.reject(e);
        this.startAfresh();
      }
    }
    this.running = false;
  }

  startAfresh() {
    this.caches = this.model.createCaches(this.maxSequences, this.capacity);
    this.freeRows = Array.from({ length: this.maxSequences }, (_, r) => r);
    this.active = [];
  }

  async prefill(seqs) {
    const L = Math.max(...seqs.map((s) => s.prompt.length));
    const x = this.model.embed(
      seqs.map((s) => s.prompt),
      L,
      seqs.map(() => 0),
    );
    const lengths = seqs.map((s) => s.prompt.length);
    const options = { cacheRows: seqs.map((s) => s.row), inputLengths: lengths };
    const next = await this.model.nextTokens(
      x,
      seqs.length,
      L,
      this.caches,
      options,
      lengths.map((n) => n - 1),
    );
    seqs.forEach((s, b) => s.tokens.push(next[b]));
  }

  async decodeStep() {
    const seqs = this.active;
    this.widestStep = Math.max(this.widestStep, seqs.length);
    const x = this.model.embed(
      seqs.map((s) => [s.tokens[s.tokens.length - 1]]),
      1,
      seqs.map((s) => s.prompt.length + s.tokens.length - 1),
    );
    const options = { cacheRows: seqs.map((s) => s.row) };
    const next = await this.model.nextTokens(
      x,
      seqs.length,
      1,
      this.caches,
      options,
      seqs.map(() => 0),
    );
    seqs.forEach((s, b) => s.tokens.push(next[b]));
  }

  /** Finished sequences leave: their rows are reset and free for the next requests. */
  leave() {
    for (const seq of this.active.filter((s) => s.tokens.length >= s.maxTokens)) this.release(seq);
    this.active = this.active.filter((s) => s.row >= 0);
  }

  release(seq) {
    for (const cache of this.caches) cache.reset(seq.row);
    this.freeRows.push(seq.row);
    seq.row = -1;
    seq.resolve(seq.tokens);
  }
}

/** The request's {prompt, maxTokens}, or an error message for a 400 answer. */
function parseRequest(body, capacity) {
  let request;
  try {
    request = JSON.parse(body);
  } catch {
    return { error: 'the body is not JSON' };
  }
  const { prompt, maxTokens } = request ?? {};
  const isToken = (t) => Number.isInteger(t) && t >= 0 && t < VOCAB;
  if (!Array.isArray(prompt) || prompt.length === 0 || !prompt.every(isToken))
    return { error: `prompt must be a non-empty array of integers in [0, ${VOCAB})` };
  if (!Number.isInteger(maxTokens) || maxTokens < 1) return { error: 'maxTokens must be a positive integer' };
  if (prompt.length + maxTokens - 1 > capacity)
    return { error: `prompt.length + maxTokens - 1 must be at most ${capacity} (the cache's capacity)` };
  return { prompt, maxTokens };
}

function createServer(scheduler) {
  const reply = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  return http.createServer((req, res) => {
    if (req.url !== '/generate') return reply(res, 404, { error: 'POST /generate {prompt, maxTokens}' });
    if (req.method !== 'POST') return reply(res, 405, { error: 'POST /generate {prompt, maxTokens}' });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      if (body === null) return;
      body += chunk;
      if (body.length > MAX_BODY) {
        body = null; // the rest is read and dropped
        reply(res, 413, { error: `the body is above ${MAX_BODY} characters` });
      }
    });
    req.on('end', () => {
      if (body === null) return;
      const request = parseRequest(body, scheduler.capacity);
      if (request.error !== undefined) return reply(res, 400, { error: request.error });
      scheduler.generate(request.prompt, request.maxTokens).then(
        (tokens) => reply(res, 200, { tokens }),
        (e) => reply(res, 500, { error: String(e.message) }),
      );
    });
  });
}

/** Serves concurrent requests on a free port and checks each against the same request generated alone. */
async function selfTest(requests = 12) {
  const model = new TinyDecoder(7);
  const scheduler = new Scheduler(model, { maxSequences: 4, capacity: 64 });
  const server = createServer(scheduler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/generate`;
  const uniform = seededUniform(3);
  const cases = Array.from({ length: requests }, (_, i) => ({
    prompt: Array.from(uniform(1 + ((i * 5) % 17), 0.5), (u) => Math.floor((u + 0.5) * VOCAB)),
    maxTokens: 1 + ((i * 7) % 20),
  }));
  try {
    const answers = await Promise.all(
      cases.map(async (c) => {
        const res = await fetch(url, { method: 'POST', body: JSON.stringify(c) });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
        return (await res.json()).tokens;
      }),
    );
    for (const [i, c] of cases.entries()) {
      const alone = await generateAlone(model, c.prompt, c.maxTokens);
      if (JSON.stringify(answers[i]) !== JSON.stringify(alone))
        throw new Error(`request ${i}: served ${answers[i]} but alone ${alone}`);
    }
    const tokens = answers.reduce((n, a) => n + a.length, 0);
    console.log(
      `OK: ${requests} concurrent requests, ${tokens} tokens, each the same as generated alone ` +
        `(up to ${scheduler.widestStep} sequences per decode step)`,
    );
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.includes('--selftest')) {
    selfTest().catch((e) => {
      console.error(e);
      process.exitCode = 1;
    });
  } else {
    const portAt = args.indexOf('--port');
    const port = portAt >= 0 ? Number(args[portAt + 1]) : 8080;
    const scheduler = new Scheduler(new TinyDecoder(7), { maxSequences: 16, capacity: 1024 });
    createServer(scheduler)
      .on('error', (e) => {
        console.error(e.message);
        process.exitCode = 1;
      })
      .listen(port, () => console.log(`POST http://localhost:${port}/generate`));
  }
}

module.exports = { TinyDecoder, Scheduler, createServer, generateAlone, selfTest };
