// ============================================================================================
// common.cl — definitions shared by every kernel family; prepended to each family's source
// before it is compiled (see src/program.c), so a family file may rely on what is here.
// ============================================================================================

// Half bits widened to float exactly, by integer operations and one exact subtraction:
// bitwise what vload_half gives for normals, subnormals, +-0 and +-inf; a NaN stays a
// NaN of its sign with its payload (not quieted; vload_half's NaN payload is the
// implementation's). Why: NVIDIA's compiler makes vload_half4 four 16-bit loads and
// four conversions, while the ushort4 this takes comes in one 8-byte load.
static inline float4 half4_bits_to_float4(ushort4 h) {
    const uint4 u = convert_uint4(h);
    const uint4 mag = (u & 0x7fffu) << 13;      // exponent and mantissa in float's place
    const uint4 e = mag & 0x0f800000u;          // the half exponent field, shifted
    uint4 o = mag + 0x38000000u;                // normals: exponent rebiased 15 -> 127
    o = select(o, o + 0x38000000u, e == 0x0f800000u); // inf, NaN: exponent 31 -> 255
    // subnormals and zeros: 2^-14 (1 + m/1024) - 2^-14 = m 2^-24, exact (no float
    // denormal is formed, so a device that flushes them gives the same)
    const float4 sub = as_float4(mag + 0x38800000u) - (float4)(0x1p-14f);
    o = select(o, as_uint4(sub), e == 0u);
    return as_float4(o | ((u & 0x8000u) << 16));
}

// Four halves from p widened to float: the DIDCL_HALF_BITS build loads them as one
// ushort4 (8 bytes) when vec (p aligned to 4 halves) and converts by bits; the default
// build uses vloada_half4 / vload_half4 (native on CPUs). Both give the same floats.
static inline float4 wload_half4(__global const half *p, int vec) {
#ifdef DIDCL_HALF_BITS
    __global const ushort *u = (__global const ushort *)p;
    return half4_bits_to_float4(vec ? *(__global const ushort4 *)u : vload4(0, u));
#else
    return vec ? vloada_half4(0, p) : vload_half4(0, p);
#endif
}

// One half p[i] widened to float, by the same conversion as wload_half4.
static inline float wload_half(__global const half *p, size_t i) {
#ifdef DIDCL_HALF_BITS
    return half4_bits_to_float4((ushort4)(((__global const ushort *)p)[i])).x;
#else
    return vload_half(i, p);
#endif
}

// Storage type of large weight matrices: float by default, or half (core OpenCL, no
// cl_khr_fp16 needed) when the program is built with -DDIDCL_WEIGHT_HALF, read by
// vload_half or, with -DDIDCL_HALF_BITS too, by the bit conversion above.
#ifdef DIDCL_WEIGHT_HALF
typedef half wtype;
#define WLOAD(p, i) wload_half((p), (i))
#else
typedef float wtype;
#define WLOAD(p, i) ((p)[(i)])
#endif

// Work-group reductions over a __local scratch red of one float per work-item. The
// work-group size MUST be a power of two (the host wrappers in src/ops.c ensure it) and
// every work-item of the group MUST call them (they contain barriers). Every work-item
// gets the result; red may be reused right after.
static inline float group_sum(float v, __local float *red) {
    const int lid = get_local_id(0), n = get_local_size(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = n / 2; s > 0; s /= 2) {
        if (lid < s)
            red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

static inline float group_max(float v, __local float *red) {
    const int lid = get_local_id(0), n = get_local_size(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = n / 2; s > 0; s /= 2) {
        if (lid < s)
            red[lid] = fmax(red[lid], red[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// GELU, tanh approximation (PyTorch approximate="tanh", GPT-2's gelu_new):
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
static inline float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; // sqrt(2/pi)
    return 0.5f * x * (1.0f + tanh(k * (x + 0.044715f * x * x * x)));
}
