// The operations of the AVX2 and AVX-512 vector traits that the two spell alike but for the
// width's intrinsic prefix: included inside the traits struct (vec_avx2.h, vec_avx512.h) with
// SA_X86_PS(op) naming the width's _mm256_op / _mm512_op, so they are written once. No include
// guard: it is included once per width.
static F zero() { return SA_X86_PS(setzero_ps)(); }
static F set1(float x) { return SA_X86_PS(set1_ps)(x); }
static F negInf() { return SA_X86_PS(set1_ps)(-INFINITY); }
static F load(const float* p) { return SA_X86_PS(load_ps)(p); }
static F loadu(const float* p) { return SA_X86_PS(loadu_ps)(p); }
static void store(float* p, F v) { SA_X86_PS(store_ps)(p, v); }
static void storeu(float* p, F v) { SA_X86_PS(storeu_ps)(p, v); }
static F fmadd(F a, F b, F c) { return SA_X86_PS(fmadd_ps)(a, b, c); }
static F fmsub(F a, F b, F c) { return SA_X86_PS(fmsub_ps)(a, b, c); }  // a * b - c
static F add(F a, F b) { return SA_X86_PS(add_ps)(a, b); }
static F sub(F a, F b) { return SA_X86_PS(sub_ps)(a, b); }
static F mul(F a, F b) { return SA_X86_PS(mul_ps)(a, b); }
static F div(F a, F b) { return SA_X86_PS(div_ps)(a, b); }
// maxps / minps return their second operand when either is NaN.
static F max(F a, F b) { return SA_X86_PS(max_ps)(a, b); }
static F min(F a, F b) { return SA_X86_PS(min_ps)(a, b); }
// a > b ? a : b per lane (b where a is NaN).
static F selectGreater(F a, F b) { return SA_X86_PS(max_ps)(a, b); }
// Swaps the two floats of every pair (vpermilps 0xB1).
static F swapPairs(F a) { return SA_X86_PS(permute_ps)(a, 0xB1); }

// The first two levels of reduceLanes' transpose-and-add tree: quad[i], in each 128-bit lane,
// holds the four sums of the lanes of a[4i .. 4i + 3] that fall in that 128-bit lane.
static void sumQuads(const F* a, F* quad) {
  F pair[W / 2];
  for (int i = 0; i < W / 2; ++i) {  // per 128-bit lane: (a0+a2, b0+b2, a1+a3, b1+b3)
    pair[i] = add(SA_X86_PS(unpacklo_ps)(a[2 * i], a[2 * i + 1]), SA_X86_PS(unpackhi_ps)(a[2 * i], a[2 * i + 1]));
  }
  for (int i = 0; i < W / 4; ++i) {
    quad[i] = add(SA_X86_PS(shuffle_ps)(pair[2 * i], pair[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                  SA_X86_PS(shuffle_ps)(pair[2 * i], pair[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
}

// The first two levels of transpose (a[r] lane c to a[c] lane r): v[4k + c], in 128-bit lane L,
// holds rows 4k .. 4k + 3 of column 4L + c; the widths then move the 128-bit lanes across registers.
static void transposeWithinLanes(const F* a, F* v) {
  F u[W];
  for (int k = 0; k < W / 2; ++k) {
    u[2 * k] = SA_X86_PS(unpacklo_ps)(a[2 * k], a[2 * k + 1]);
    u[2 * k + 1] = SA_X86_PS(unpackhi_ps)(a[2 * k], a[2 * k + 1]);
  }
  for (int k = 0; k < W / 4; ++k) {
    v[4 * k + 0] = SA_X86_PS(shuffle_ps)(u[4 * k], u[4 * k + 2], 0x44);
    v[4 * k + 1] = SA_X86_PS(shuffle_ps)(u[4 * k], u[4 * k + 2], 0xEE);
    v[4 * k + 2] = SA_X86_PS(shuffle_ps)(u[4 * k + 1], u[4 * k + 3], 0x44);
    v[4 * k + 3] = SA_X86_PS(shuffle_ps)(u[4 * k + 1], u[4 * k + 3], 0xEE);
  }
}
