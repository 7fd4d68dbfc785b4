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
