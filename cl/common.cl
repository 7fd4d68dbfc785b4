// ============================================================================================
// common.cl — definitions shared by every kernel family; prepended to each family's source
// before it is compiled (see src/program.c), so a family file may rely on what is here.
// ============================================================================================

// Storage type of large weight matrices: float by default, or half read with vload_half
// (core OpenCL, no cl_khr_fp16 needed) when the program is built with -DDIDCL_WEIGHT_HALF.
#ifdef DIDCL_WEIGHT_HALF
typedef half wtype;
#define WLOAD(p, i) vload_half((i), (p))
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
