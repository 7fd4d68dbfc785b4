/*
 * didcl.h — public API of libdidcl, a portable OpenCL engine for block-diffusion
 * language models (BD3-LM) and the Diffusion-in-Diffusion sampler.
 *
 * Conventions (the whole API follows them):
 *   - Every fallible call returns enum didcl_status; DIDCL_OK is 0, errors are negative.
 *     The call that failed also leaves a one-line message for this thread, readable with
 *     didcl_last_error(): it names the file/option/tensor, what was wrong and what was
 *     expected. The library never exits or aborts on bad input.
 *   - Handles are opaque pointers ending in _t; every init/open function has a free that
 *     accepts NULL. Outputs come last and are written only on success.
 *   - Diagnostics go through one host-settable log callback (didcl_log_set).
 *
 * Minimal use:
 *
 *     didcl_runtime_t rt;
 *     if (didcl_runtime_init(NULL, &rt) != DIDCL_OK) {
 *         fprintf(stderr, "%s\n", didcl_last_error());
 *         return 1;
 *     }
 *     printf("running on %s\n", didcl_runtime_device(rt)->name);
 *     didcl_runtime_free(rt);
 */
#ifndef DIDCL_H
#define DIDCL_H

#include <stddef.h>
#include <stdint.h>

#include "didcl/remask.h" /* the plugin ABI: didcl_remask_position, for didcl_remask_select */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define DIDCL_API __declspec(dllexport)
#elif defined(__GNUC__)
#define DIDCL_API __attribute__((visibility("default")))
#else
#define DIDCL_API
#endif

#define DIDCL_VERSION_MAJOR 0
#define DIDCL_VERSION_MINOR 1
#define DIDCL_VERSION_PATCH 0

/* The library's version string, e.g. "0.1.0". */
DIDCL_API const char *didcl_version(void);

/* ------------------------------------------------------------------------------------
 * Status values
 * ------------------------------------------------------------------------------------ */

enum didcl_status {
    DIDCL_OK = 0,
    DIDCL_ERR_INVALID_ARG = -1,  /* a caller/user argument is out of range or malformed */
    DIDCL_ERR_NO_MEMORY = -2,    /* host allocation failed */
    DIDCL_ERR_IO = -3,           /* a file could not be opened, read, mapped or written */
    DIDCL_ERR_FORMAT = -4,       /* a file's content is malformed (JSON, safetensors, BPE) */
    DIDCL_ERR_UNSUPPORTED = -5,  /* valid input that this build cannot handle */
    DIDCL_ERR_NOT_FOUND = -6,    /* a named thing (tensor, device, plugin, key) is absent */
    DIDCL_ERR_NO_PLATFORM = -7,  /* no OpenCL platform is installed */
    DIDCL_ERR_NO_DEVICE = -8,    /* no OpenCL device matches the selection */
    DIDCL_ERR_BUILD = -9,        /* an OpenCL program failed to compile (log in message) */
    DIDCL_ERR_OPENCL = -10,      /* an OpenCL call failed; didcl_last_cl_error() has code */
    DIDCL_ERR_CLBLAST = -11,     /* a CLBlast routine failed */
    DIDCL_ERR_PLUGIN = -12,      /* a remask plugin could not be loaded or misbehaved */
    DIDCL_ERR_SHAPE = -13,       /* tensor shape/dtype disagrees with the model config */
    DIDCL_ERR_ENCODING = -14,    /* text is not valid UTF-8, or the tokenizer cannot encode it */
    DIDCL_ERR_CANCELLED = -15,   /* the host's event callback asked to stop */
};
typedef enum didcl_status didcl_status;

/* Short constant name of a status, e.g. "DIDCL_ERR_FORMAT". Never NULL. */
DIDCL_API const char *didcl_status_str(didcl_status status);

/* The message left by the last failing call on this thread ("" if none). The pointer
 * stays valid until the next failing call on the same thread. */
DIDCL_API const char *didcl_last_error(void);

/* The raw OpenCL error code of the last DIDCL_ERR_OPENCL on this thread (0 if none). */
DIDCL_API int32_t didcl_last_cl_error(void);

/* Name of an OpenCL error code, e.g. "CL_OUT_OF_RESOURCES" (or "CL_UNKNOWN_ERROR"). */
DIDCL_API const char *didcl_cl_error_str(int32_t code);

/* ------------------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------------------ */

enum didcl_log_level {
    DIDCL_LOG_DEBUG = 0,
    DIDCL_LOG_INFO = 1,
    DIDCL_LOG_WARN = 2,
    DIDCL_LOG_ERROR = 3,
};

typedef void (*didcl_log_fn)(enum didcl_log_level level, const char *msg, void *user);

/* Route library diagnostics to fn (NULL restores the default: WARN and above to
 * stderr). The callback MAY be called from any thread that uses the library. */
DIDCL_API void didcl_log_set(didcl_log_fn fn, void *user);

/* ------------------------------------------------------------------------------------
 * OpenCL runtime: devices, selection, context and queue
 * ------------------------------------------------------------------------------------ */

enum didcl_device_kind {
    DIDCL_DEVICE_OTHER = 0,
    DIDCL_DEVICE_CPU = 1,
    DIDCL_DEVICE_GPU = 2,
    DIDCL_DEVICE_ACCELERATOR = 3,
};

typedef struct didcl_device_info {
    uint32_t platform_index;      /* index in clGetPlatformIDs order */
    uint32_t device_index;        /* index inside its platform */
    enum didcl_device_kind kind;
    char name[256];
    char vendor[128];
    char platform[128];           /* platform name */
    char platform_version[128];
    char version[128];            /* CL_DEVICE_VERSION */
    char driver[128];             /* CL_DRIVER_VERSION */
    char c_version[64];           /* CL_DEVICE_OPENCL_C_VERSION */
    uint32_t compute_units;
    uint64_t global_mem;          /* bytes */
    uint64_t max_alloc;           /* bytes, CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    uint64_t local_mem;           /* bytes */
    uint64_t max_work_group;      /* work-items */
    int fp16;                     /* cl_khr_fp16 */
    int fp64;                     /* cl_khr_fp64 */
    int subgroups;                /* cl_khr_subgroups or cl_intel_subgroups */
} didcl_device_info;

/* List every device of every platform. On success *out is a malloc'd array the caller
 * frees with free(); *n may be 0 only if platforms exist without devices.
 * DIDCL_ERR_NO_PLATFORM when no OpenCL platform is installed. */
DIDCL_API didcl_status didcl_devices_list(didcl_device_info **out, size_t *n);

typedef struct didcl_runtime *didcl_runtime_t;

/* Open a device. selector is "P:D" (platform and device index), or a case-insensitive
 * substring of the device or platform name; NULL or "" falls back to the DIDCL_DEVICE
 * environment variable, then to the first GPU, then to the first device. */
DIDCL_API didcl_status didcl_runtime_init(const char *selector, didcl_runtime_t *out);
DIDCL_API void didcl_runtime_free(didcl_runtime_t rt);
DIDCL_API const didcl_device_info *didcl_runtime_device(didcl_runtime_t rt);

/* Program-cache counters of this runtime: builds served from the on-disk binary cache,
 * builds compiled from source, and kernels found in the in-memory cache. */
typedef struct didcl_cache_stats {
    uint64_t disk_hits;
    uint64_t compiles;
    uint64_t memory_hits;
} didcl_cache_stats;
DIDCL_API void didcl_runtime_cache_stats(didcl_runtime_t rt, didcl_cache_stats *out);

/* Directory of the on-disk kernel cache in use ("" if disabled). */
DIDCL_API const char *didcl_runtime_cache_dir(didcl_runtime_t rt);

/* Build every kernel family now, into the on-disk cache (and this runtime's memory
 * cache), so that no later run compiles them: fp32-weight variants always, the
 * half-weight ones with DIDCL_WARMUP_HALF, and CLBlast's GEMM programs with
 * DIDCL_WARMUP_CLBLAST (CLBlast keeps those in memory only: they last as long as the
 * process). Afterwards didcl_runtime_cache_stats tells hits from compiles. */
enum didcl_warmup_flags {
    DIDCL_WARMUP_HALF = 1,
    DIDCL_WARMUP_CLBLAST = 2,
};
DIDCL_API didcl_status didcl_runtime_warmup(didcl_runtime_t rt, uint32_t flags);

/* Device time by kind of work, from OpenCL profiling events. Each command the library
 * enqueues counts END - START of its event under the kind its name maps to (kernels
 * named for what they do: gemv or gemm: products, attention, sample: sampling;
 * read_ and write_ prefixes: host transfers; device-side copies: other). CLBlast
 * routines that run several kernels report their last one only. */
enum didcl_time_kind {
    DIDCL_TIME_PRODUCTS = 0,  /* matrix products: gemv kernels, CLBlast GEMM */
    DIDCL_TIME_ATTENTION = 1, /* attention kernels, including their CLBlast products */
    DIDCL_TIME_SAMPLING = 2,  /* sampling kernels on the device */
    DIDCL_TIME_TRANSFERS = 3, /* host <-> device reads and writes */
    DIDCL_TIME_OTHER = 4,     /* every other kernel, device-side copies */
    DIDCL_TIME_KINDS = 5
};

/* "products", "attention", "sampling", "transfers", "other". */
DIDCL_API const char *didcl_time_kind_str(enum didcl_time_kind kind);

typedef struct didcl_profile {
    int enabled;                          /* 0: profiling was off, the rest is 0 */
    double seconds[DIDCL_TIME_KINDS];     /* device seconds per kind */
    uint64_t commands[DIDCL_TIME_KINDS];  /* commands counted per kind */
} didcl_profile;

/* Turn profiling on or off (off by default). It waits for queued work and replaces the
 * runtime's queue by one with (or without) CL_QUEUE_PROFILING_ENABLE; totals start at 0
 * when it is turned on. Profiling adds a wait every few thousand commands. */
DIDCL_API didcl_status didcl_runtime_set_profiling(didcl_runtime_t rt, int on);

/* The totals since profiling was turned on (all zero, enabled 0, when it is off). Waits
 * for the commands enqueued so far. */
DIDCL_API didcl_status didcl_runtime_profile(didcl_runtime_t rt, didcl_profile *out);

/* The device's copy bandwidth: `reps` clEnqueueCopyBuffer of a `bytes` buffer into
 * another (capped at the device's largest allocation), after one untimed copy, timed on
 * the host around the queue: 2 * bytes * reps / seconds, bytes read plus bytes
 * written, the memory traffic the device sustains (what a forward that streams its
 * weights is held against). */
DIDCL_API didcl_status didcl_runtime_copy_bandwidth(didcl_runtime_t rt, uint64_t bytes,
                                                    uint32_t reps, double *bytes_per_s);

/* ---- Self-test: every kernel against the plain-C reference on this device ---- */

/* One op of the self-test: the kernel run on random inputs (fixed seed) and compared
 * element by element with the library's C reference, |got - want| <= atol + rtol |want|. */
typedef struct didcl_selftest_case {
    char op[32];          /* the kernel (path), e.g. "attention_wide" */
    char shape[96];       /* what it ran on, e.g. "Tq=12 Tk=40 heads=4 hd=32 bd3-2L" */
    double atol, rtol;    /* this op's tolerance (docs/kernels.md) */
    double max_abs;       /* largest |got - want| */
    double worst;         /* largest |got - want| / (atol + rtol |want|); <= 1 passes */
    int passed;           /* ran, and every element within tolerance */
    didcl_status status;  /* DIDCL_OK, or why the op could not run (see message) */
    char message[256];    /* "" when it ran */
} didcl_selftest_case;

/* Run every kernel on rt's device against the C reference. On success *out is a
 * malloc'd table of *n cases (free() it): DIDCL_OK means the test ran, not that it
 * passed: check each case's `passed`. Fails only when the table cannot be made
 * (DIDCL_ERR_NO_MEMORY, a NULL argument). */
DIDCL_API didcl_status didcl_selftest_run(didcl_runtime_t rt, didcl_selftest_case **out,
                                          size_t *n);

/* ---- Checkpoints: safetensors weights, config.json, model directories ---- */

/* Element types of stored tensors that didcl reads. */
enum didcl_dtype {
    DIDCL_DTYPE_F32 = 0,
    DIDCL_DTYPE_F16 = 1,
    DIDCL_DTYPE_BF16 = 2,
};

/* "F32", "F16" or "BF16" (the safetensors spelling); bytes per element. */
DIDCL_API const char *didcl_dtype_str(enum didcl_dtype dtype);
DIDCL_API size_t didcl_dtype_size(enum didcl_dtype dtype);

#define DIDCL_MAX_DIMS 8

/* One stored tensor. All pointers stay valid until the owning weights are freed. */
typedef struct didcl_tensor_info {
    const char *name;
    enum didcl_dtype dtype;
    uint32_t ndim;                  /* 0 for a scalar */
    uint64_t shape[DIDCL_MAX_DIMS]; /* row-major, outermost first; [out, in] for Linear */
    uint64_t numel;                 /* product of shape (1 for a scalar) */
    uint64_t nbytes;                /* numel * didcl_dtype_size(dtype) */
    const void *data;               /* little-endian, read-only mapping of the file; may be
                                     * unaligned (only when the writer did not pad) */
    const char *file;               /* path of the .safetensors file holding it */
    uint64_t offset;                /* byte offset of data within that file */
} didcl_tensor_info;

typedef struct didcl_weights *didcl_weights_t;

/* Open safetensors weights read-only. path is a .safetensors file, a sharded checkpoint's
 * model.safetensors.index.json (every shard is opened once), or a directory holding
 * model.safetensors or, failing that, model.safetensors.index.json. Every header is
 * validated in full: a corrupt file is DIDCL_ERR_FORMAT, a dtype other than F32/F16/BF16
 * DIDCL_ERR_UNSUPPORTED, both naming the file and tensor. */
DIDCL_API didcl_status didcl_weights_open(const char *path, didcl_weights_t *out);
DIDCL_API void didcl_weights_free(didcl_weights_t w);

/* Path of what was opened: the .safetensors file, or the index.json of a sharded set. */
DIDCL_API const char *didcl_weights_source(didcl_weights_t w);
DIDCL_API size_t didcl_weights_file_count(didcl_weights_t w);

/* Tensors in file order (by shard, then by offset); at(i) is NULL past the end, find is
 * NULL when no tensor has that exact name. */
DIDCL_API size_t didcl_weights_count(didcl_weights_t w);
DIDCL_API const didcl_tensor_info *didcl_weights_at(didcl_weights_t w, size_t i);
DIDCL_API const didcl_tensor_info *didcl_weights_find(didcl_weights_t w, const char *name);

/* Widen a tensor to fp32 into dst (t->numel floats): exact for F16 and BF16 (including
 * subnormals, infinities and NaN payloads), a copy for F32. */
DIDCL_API didcl_status didcl_tensor_to_f32(const didcl_tensor_info *t, float *dst);

enum didcl_arch {
    DIDCL_ARCH_BD3LM = 1, /* kuleshov-group BD3-LM DiT ("model_type": "bd3lm") */
    DIDCL_ARCH_GPT2 = 2,  /* Hugging Face GPT2LMHeadModel ("model_type": "gpt2") */
};
DIDCL_API const char *didcl_arch_str(enum didcl_arch arch); /* "bd3lm", "gpt2" */

/* A model's hyper-parameters, from config.json (keys named per field). */
typedef struct didcl_model_config {
    enum didcl_arch arch;
    uint32_t n_layers;         /* bd3lm n_blocks, gpt2 n_layer */
    uint32_t hidden;           /* H: bd3lm hidden_dim, gpt2 n_embd */
    uint32_t n_heads;          /* n_heads / n_head; hidden % n_heads == 0 */
    uint32_t head_dim;         /* hidden / n_heads */
    uint32_t mlp_dim;          /* bd3lm 4*H, gpt2 n_inner (null: 4*H) */
    uint32_t cond_dim;         /* bd3lm adaLN conditioning width cond_dim; 0 for gpt2 */
    uint32_t vocab_size;       /* V, including [MASK] for bd3lm */
    uint32_t context_length;   /* bd3lm model_length, gpt2 n_positions (or n_ctx) */
    uint32_t block_size;       /* bd3lm block_size (divides context_length); gpt2 1 */
    int time_conditioning;     /* bd3lm time_conditioning (false: sigma is fed as 0) */
    double sampling_eps_min;   /* bd3lm noise clip; the checkpoint's scalars win if present */
    double sampling_eps_max;
    int eps_from_checkpoint;   /* 1 when the two values above came from the weights */
    double norm_eps;           /* LayerNorm epsilon: 1e-5 for bd3lm, layer_norm_epsilon */
    int32_t mask_token_id;     /* bd3lm default V-1; gpt2 -1 (none) unless given */
    int32_t bos_token_id;      /* bd3lm default V-2, gpt2 default V-1 */
    int32_t eos_token_id;      /* as bos */
} didcl_model_config;

/* Read and check config.json. model_type must be "bd3lm" or "gpt2"; a missing or
 * wrongly typed key is DIDCL_ERR_FORMAT naming the key and the expected type. */
DIDCL_API didcl_status didcl_model_config_load(const char *path, didcl_model_config *out);

/* Number of parameters the config implies (the required tensors; for GPT-2 without a
 * separate lm_head; BD3-LM's inv_freq and eps scalars are buffers, not counted). */
DIDCL_API uint64_t didcl_model_config_param_count(const didcl_model_config *cfg);

/* A checkpoint on the host: config.json plus its weights, checked against each other.
 * No device memory is involved; the engine builds its device model from this. */
typedef struct didcl_model_files *didcl_model_files_t;

/* Open a model directory (config.json + model.safetensors or a sharded index) and check
 * that every tensor the config requires is present with the implied shape
 * (DIDCL_ERR_NOT_FOUND / DIDCL_ERR_SHAPE naming the tensor and file). Tensors the
 * architecture does not use are logged as warnings and otherwise ignored. */
DIDCL_API didcl_status didcl_model_files_open(const char *dir, didcl_model_files_t *out);
DIDCL_API void didcl_model_files_free(didcl_model_files_t m);
DIDCL_API const char *didcl_model_files_dir(didcl_model_files_t m);
DIDCL_API const didcl_model_config *didcl_model_files_config(didcl_model_files_t m);
DIDCL_API didcl_weights_t didcl_model_files_weights(didcl_model_files_t m);

/* Parameters actually stored: the required tensors plus present optional ones (GPT-2
 * lm_head), excluding BD3-LM's inv_freq and eps scalars. */
DIDCL_API uint64_t didcl_model_files_param_count(didcl_model_files_t m);

/* Look a tensor up by its architecture name, e.g. "backbone.blocks.0.attn_qkv.weight"
 * or, for GPT-2, "h.0.attn.c_attn.weight" whether or not the file uses the
 * "transformer." prefix. NULL when absent (GPT-2 "lm_head.weight": tied to wte). */
DIDCL_API const didcl_tensor_info *didcl_model_files_tensor(didcl_model_files_t m,
                                                            const char *name);

/* ---- Model: the forward pass on the device ---- */

/* A model on a device: the weights of a checkpoint uploaded once, activation buffers for
 * up to max_tokens tokens, a KV cache (BD3-LM) and the logits of the last forward, which
 * stay on the device until asked for (didcl_model_rows, didcl_model_token_logprobs).
 * A model belongs to one runtime and, like it, MUST be used from one thread at a time. */
typedef struct didcl_model *didcl_model_t;

typedef struct didcl_model_options {
    int half_weights;    /* 1: store the large matrices (embeddings, projections, MLP,
                          * output head) as IEEE half, read with vload_half; compute fp32 */
    uint32_t max_tokens; /* longest sequence a forward sees (0: the context length); a
                          * BD3-LM score pass runs 2 * max_tokens rows */
    uint32_t max_batch;  /* BD3-LM: sequences a batched cached forward
                          * (didcl_model_forward_batch) holds, one KV cache each
                          * (0 or 1: one; the KV cache memory grows by this factor) */
} didcl_model_options;

/* Upload files' weights to rt's device and allocate every buffer a forward needs.
 * opt may be NULL (fp32, max_tokens = context length). files may be freed afterwards. */
DIDCL_API didcl_status didcl_model_open(didcl_runtime_t rt, didcl_model_files_t files,
                                        const didcl_model_options *opt, didcl_model_t *out);
DIDCL_API void didcl_model_free(didcl_model_t m);
/* The getters below answer NULL or 0 for a NULL model, and didcl_model_reset ignores it. */
DIDCL_API const didcl_model_config *didcl_model_get_config(didcl_model_t m);
DIDCL_API uint32_t didcl_model_max_tokens(didcl_model_t m);
/* Tokens held by the KV cache (BD3-LM): positions [0, n) are finished blocks. */
DIDCL_API uint32_t didcl_model_cached(didcl_model_t m);
/* Drop the KV cache (a new sequence starts). */
DIDCL_API void didcl_model_reset(didcl_model_t m);

enum didcl_forward_mode {
    DIDCL_FORWARD_BLOCK = 0,    /* BD3-LM cached step: n tokens at positions [start,
                                 * start+n) attend to the cache [0, start) and to each
                                 * other; start MUST equal didcl_model_cached(); the cache
                                 * is not extended. Logits: n rows. */
    DIDCL_FORWARD_STORE_KV = 1, /* the same pass over a finished block, which is then
                                 * appended to the cache (cached becomes start + n).
                                 * Computes no logits. */
    DIDCL_FORWARD_GLOBAL = 2,   /* BD3-LM without cache: n tokens at positions [0, n),
                                 * bidirectional (block 0 or >= n), or block-causal with
                                 * blocks of `block` tokens. Logits: n rows. */
    DIDCL_FORWARD_SCORE = 3,    /* BD3-LM x_t (+) x_0 pass of 2n rows under the
                                 * block-diffusion mask with blocks of `block` tokens (a
                                 * shorter last block is allowed); ids is x_t, x0 the clean
                                 * text. Logits: n rows (the x_t half). */
    DIDCL_FORWARD_CAUSAL = 4,   /* GPT-2: n tokens at positions [0, n), causal.
                                 * Logits: n rows (row i predicts token i + 1). */
    DIDCL_FORWARD_GLOBAL_KV = 5, /* BD3-LM: GLOBAL, bidirectional (block ignored), that
                                 * also keeps every position's K/V: the cache is replaced
                                 * by [0, n) (cached becomes n). Logits as GLOBAL. */
    DIDCL_FORWARD_ROWS = 6,     /* BD3-LM, approximate: n tokens at the positions pos (n,
                                 * increasing, < cached) of the cached sequence; their K/V
                                 * replace the cached ones at those positions, then they
                                 * attend to every cached position (bidirectional). The
                                 * other positions' K/V are reused as they were computed,
                                 * so after tokens changed elsewhere the logits only
                                 * approximate GLOBAL's (the K/V-reuse revision). start 0;
                                 * the cache keeps its length. Logits as GLOBAL (want
                                 * flags the n rows). */
};

typedef struct didcl_forward {
    enum didcl_forward_mode mode;
    const int32_t *ids; /* (n,) token ids in [0, vocab) */
    uint32_t n;         /* tokens: 1..max_tokens (BLOCK/STORE_KV: start + n <= max_tokens) */
    uint32_t start;     /* BLOCK, STORE_KV: position of ids[0]; else 0 */
    uint32_t block;     /* GLOBAL, SCORE: block size (see the modes) */
    const int32_t *x0;  /* SCORE: (n,) the clean text; else NULL */
    float sigma;        /* BD3-LM with time_conditioning: the noise level fed to adaLN
                         * (ignored, as 0, when the config has it off) */
    const uint8_t *want; /* GLOBAL, GLOBAL_KV, ROWS, BLOCK: NULL for logits of every row,
                          * or flags over the rows ((n,); a batched BLOCK: (batch * n,),
                          * sequence-major): only the flagged rows get logits, packed in
                          * that order as rows 0.. (none flagged: no rows). GLOBAL,
                          * GLOBAL_KV and ROWS run the output layer on them alone; BLOCK
                          * does where the device's product computes rows independently
                          * (else it runs on every row and the flagged ones move up), so
                          * a flagged row is bitwise that row without want */
    const int32_t *pos;  /* ROWS: (n,) the tokens' positions; else NULL */
} didcl_forward;

/* Run one forward pass. The logits of its rows stay on the device. */
DIDCL_API didcl_status didcl_model_forward(didcl_model_t m, const didcl_forward *f);

/* The cached modes (BLOCK, STORE_KV) on `batch` sequences at once, in lockstep: the
 * same start and n for every sequence; ids holds batch * n ids, sequence b's n tokens at
 * ids[b * n]; sequence b reads and extends KV cache b (0 <= b < batch <= max_batch);
 * start MUST equal didcl_model_cached(), which all caches share (didcl_model_reset
 * drops them all). batch * n MUST be <= max_tokens. The large products run once over
 * the batch * n rows. BLOCK's logits: batch * n rows, sequence-major, bitwise those of
 * each sequence run alone up to the products' summation order. didcl_model_forward
 * is the batch of one (cache 0). */
DIDCL_API didcl_status didcl_model_forward_batch(didcl_model_t m, const didcl_forward *f,
                                                 uint32_t batch);

/* Rows of the last forward's logits now held on the device (0 after STORE_KV). */
DIDCL_API uint32_t didcl_model_logit_rows(didcl_model_t m);

enum didcl_rows_kind {
    DIDCL_ROWS_LOGITS = 0,   /* raw logits */
    DIDCL_ROWS_LOGPROBS = 1, /* log-softmax; BD3-LM's [MASK] is left out (-inf), as SUBS */
};

/* Copy rows [first, first + count) of the last forward's output to out (count * vocab
 * floats), as raw logits or log-probabilities. */
DIDCL_API didcl_status didcl_model_rows(didcl_model_t m, uint32_t first, uint32_t count,
                                        enum didcl_rows_kind kind, float *out);

/* out[i] = log p(targets[i]) at row first + i of the last forward (log-softmax as
 * DIDCL_ROWS_LOGPROBS; 0 where targets[i] < 0). Computed on the device: only count
 * floats cross to the host. */
DIDCL_API didcl_status didcl_model_token_logprobs(didcl_model_t m, uint32_t first,
                                                  uint32_t count, const int32_t *targets,
                                                  float *out);

/* ---- Scoring: NELBO of BD3-LM, NLL of GPT-2 ---- */

typedef struct didcl_score_options {
    uint32_t block;   /* BD3-LM block size (0: the config's block_size) */
    uint32_t samples; /* BD3-LM Monte-Carlo noise draws (0: 1) */
    uint64_t seed;    /* draws are a pure function of (seed, draw, index): see
                       * didcl_score_draw */
    double t;         /* > 0: fixed-t mode, every block uses this t; else t ~ U[eps, 1] */
    double eps;       /* lower bound of t (0: 1e-3, as BD3-LM reports likelihood) */
} didcl_score_options;

typedef struct didcl_score_result {
    double nll;       /* nats per token: BD3-LM the NELBO (mean over draws), GPT-2 the NLL */
    double se;        /* standard error of nll over the draws (0 with one draw or GPT-2) */
    double ppl;       /* exp(nll): BD3-LM an upper bound on the perplexity */
    uint32_t tokens;  /* tokens in the denominator (BD3-LM n, GPT-2 n - 1) */
    uint32_t samples; /* draws (1 for GPT-2) */
    uint32_t windows; /* forward windows per draw (texts longer than max_tokens are cut) */
} didcl_score_result;

/* Blocks of a BD3-LM text of n tokens cut into windows of `window` tokens (each window's
 * last block may be shorter): the length of didcl_score_draw's t_block. 0 when window
 * or block is 0. */
DIDCL_API uint32_t didcl_score_blocks(uint32_t n, uint32_t window, uint32_t block);

/* Draw `draw` of seed: t_block[b] (didcl_score_blocks entries) = t_fixed if > 0, else
 * eps + (1 - eps) u, and masked[i] = (u' < t of i's block), with u, u' uniform [0, 1)
 * from a counter-based hash of (seed, draw, stream, index). Pure, no state. Does
 * nothing when window or block is 0 or an array is NULL. */
DIDCL_API void didcl_score_draw(uint32_t n, uint32_t window, uint32_t block, uint64_t seed,
                                uint32_t draw, double t_fixed, double eps, uint8_t *masked,
                                double *t_block);

/* NELBO per token of x0 (n tokens, none of them the mask id: DIDCL_ERR_INVALID_ARG)
 * for one given draw: x_t is x0 with the masked tokens
 * replaced by [MASK]; the sum over masked tokens of -log p(x0_i | x_t) / t_block(i),
 * divided by n, from score passes (2L mask) over windows of max_tokens. With time
 * conditioning on, each window is fed sigma = -log(1 - (1 - 1e-3) t) of its blocks' mean t. */
DIDCL_API didcl_status didcl_score_nelbo(didcl_model_t m, const int32_t *x0, uint32_t n,
                                         uint32_t block, const uint8_t *masked,
                                         const double *t_block, double *out);

/* Score a text: BD3-LM, the NELBO over opt->samples draws with its standard error;
 * GPT-2, the exact NLL of tokens 1..n-1 (windows of max_tokens overlapping by one). */
DIDCL_API didcl_status didcl_score(didcl_model_t m, const int32_t *ids, uint32_t n,
                                   const didcl_score_options *opt, didcl_score_result *out);

/* ------------------------------------------------------------------------------------
 * Tokenizer: GPT-2-style byte-level BPE
 * ------------------------------------------------------------------------------------ */

typedef struct didcl_tokenizer *didcl_tokenizer_t;

/* Load a tokenizer. path is a Hugging Face tokenizer.json (model BPE, pre-tokenizer
 * ByteLevel) or a directory holding tokenizer.json, vocab.json + merges.txt, or GPT-2's
 * encoder.json + vocab.bpe (tried in that order). With the two-file sets, vocabulary
 * entries written <|...|> (e.g. <|endoftext|>) are special tokens. Free with
 * didcl_tokenizer_free. A handle MUST NOT be used by two threads at once. */
DIDCL_API didcl_status didcl_tokenizer_load(const char *path, didcl_tokenizer_t *out);

/* Load from an explicit vocabulary (vocab.json / encoder.json) and merges file
 * (merges.txt / vocab.bpe). */
DIDCL_API didcl_status didcl_tokenizer_load_pair(const char *vocab_path,
                                                 const char *merges_path,
                                                 didcl_tokenizer_t *out);
DIDCL_API void didcl_tokenizer_free(didcl_tokenizer_t tok);

/* The file(s) the tokenizer was loaded from. */
DIDCL_API const char *didcl_tokenizer_source(didcl_tokenizer_t tok);

/* Number of ids (largest id + 1), added tokens included. */
DIDCL_API uint32_t didcl_tokenizer_vocab_size(didcl_tokenizer_t tok);

/* Token string of id as the file writes it (GPT-2 byte-to-unicode form, "Ġthe" for
 * " the"; added tokens as their content), or NULL when id has no token. Owned by tok. */
DIDCL_API const char *didcl_tokenizer_token(didcl_tokenizer_t tok, int32_t id);

/* The bytes id stands for (what decode writes for it; maybe part of a UTF-8 character),
 * len in *len, or NULL when id has no token. Owned by tok; handy for streaming output. */
DIDCL_API const char *didcl_tokenizer_token_bytes(didcl_tokenizer_t tok, int32_t id, size_t *len);

/* Id of a token string in the same form (or of an added token's content); -1 if none. */
DIDCL_API int32_t didcl_tokenizer_token_id(didcl_tokenizer_t tok, const char *token);

/* Id of a special/added token by content, e.g. "<|endoftext|>"; DIDCL_ERR_NOT_FOUND if
 * the tokenizer has none. */
DIDCL_API didcl_status didcl_tokenizer_special_id(didcl_tokenizer_t tok, const char *content,
                                                  int32_t *id);

/* Flags of didcl_tokenizer_encode, or'ed together. */
enum didcl_tokenize_flags {
    DIDCL_TOKENIZE_NO_SPECIAL = 1, /* special tokens written in the text are plain text */
};

/* Encode len bytes of UTF-8 text. Special and added tokens written in the text become
 * their ids (specials not with DIDCL_TOKENIZE_NO_SPECIAL). On success *ids is a malloc'd
 * array of *n_ids ids (NULL when 0) that the caller frees with free().
 * DIDCL_ERR_ENCODING names the byte offset of invalid UTF-8, or of a byte whose byte-level
 * symbol the vocabulary lacks (a tokenizer.json may omit some of the 256; Hugging Face
 * loads such files, and so does didcl: only text that needs a missing byte is refused). */
DIDCL_API didcl_status didcl_tokenizer_encode(didcl_tokenizer_t tok, const char *text, size_t len,
                                              uint32_t flags, int32_t **ids, size_t *n_ids);

/* Decode ids to the exact bytes they stand for (special tokens as their content). On
 * success *text is a malloc'd, NUL-terminated buffer of *len bytes the caller frees.
 * DIDCL_ERR_INVALID_ARG names an id out of range and its position. */
DIDCL_API didcl_status didcl_tokenizer_decode(didcl_tokenizer_t tok, const int32_t *ids,
                                              size_t n_ids, char **text, size_t *len);

/* ---- remask plugins ----------------------------------------------------------------
 * Loading and running remask-selection plugins (the ABI plugins implement is
 * include/didcl/remask.h). A plugin is named by a spec "NAME[:key=value,...]" where NAME
 * is either a path to a shared object (it contains '/' or ends in ".so") or a plugin
 * name. A spec that starts with a name and ':' is always NAME:options, so option values
 * may hold paths ("learned:weights=/x/w.safetensors"). A name resolves to the first of:
 *   a. the file didcl-remask-NAME.so in the first directory of the search path that has it:
 *      1. plugin_path (from --plugin-path; ':'-separated, may be NULL),
 *      2. the DIDCL_PLUGIN_PATH environment variable (':'-separated),
 *      3. the installed plugin directory ($(libdir)/didcl/plugins),
 *      4. when libdidcl itself runs from its build tree (not installed): the build's
 *         plugins/.libs, so an uninstalled build finds its bundled plugins;
 *   b. an in-process plugin: one built into libdidcl (the bundled lowconf, entropy, span
 *      and random, so these names always resolve) or one a host added with
 *      didcl_remask_register.
 * So a file on the search path wins over an in-process plugin of the same name.
 * Every refusal is DIDCL_ERR_PLUGIN with a one-line message naming the file (or the
 * in-process plugin). A handle is used by one thread at a time; separate handles may run
 * concurrently.
 *
 * Random draws. A plugin's host->uniform() is Philox4x32-10 keyed by the seed of
 * didcl_remask_host_cfg, at the counter of (purpose DIDCL_RNG_PLUGIN, the sample and
 * stage of the current didcl_remask_select call, draw number), the draw number starting
 * at 0 in every select call: a plugin's choices are a function of the seed, the sample,
 * the stage and its input alone, whatever the order of calls. (Draws made in create()
 * use sample 0, stage 0.)
 * ------------------------------------------------------------------------------------ */

typedef struct didcl_remask *didcl_remask_t;

/* What the host offers a plugin. Pass NULL for the defaults (seed 0). */
typedef struct didcl_remask_host_cfg {
    /* Key of the plugin's random stream (see "Random draws" above): pass the run's seed
     * (didcl_gen_options.seed) so plugin draws follow it. */
    uint64_t seed;
} didcl_remask_host_cfg;

/* Load and instantiate a plugin (resolve NAME, dlopen or find it in-process, check the
 * descriptor, create() with the spec's options). cfg may be NULL. Free with
 * didcl_remask_free. */
DIDCL_API didcl_status didcl_remask_open(const char *spec, const char *plugin_path,
                                         const didcl_remask_host_cfg *cfg, didcl_remask_t *out);
DIDCL_API void didcl_remask_free(didcl_remask_t r);

/* The plugin's descriptor name, version, description and where it came from: the file
 * it was loaded from, "(built-in)" or "(registered)". A NULL handle gives "". */
DIDCL_API const char *didcl_remask_name(didcl_remask_t r);
DIDCL_API const char *didcl_remask_version(didcl_remask_t r);
DIDCL_API const char *didcl_remask_description(didcl_remask_t r);
DIDCL_API const char *didcl_remask_path(didcl_remask_t r);

/* Add an in-process plugin: desc is a descriptor exactly as a plugin's entry returns it
 * (include/didcl/remask.h), so a host (a language binding, a test) needs no shared
 * object. It is checked as a loaded plugin is (abi_version, struct_size, name charset,
 * select non-NULL; DIDCL_ERR_PLUGIN says which) and then found by didcl_remask_open
 * under desc->name, unless a file of that name is on the search path (files win). A
 * name already in-process (built-in or registered) is refused with DIDCL_ERR_INVALID_ARG;
 * unregister it first (built-ins cannot be). Thread-safe.
 * Ownership: libdidcl keeps the pointer, not a copy. The descriptor and everything it
 * points to (name, strings, functions) MUST stay valid and unchanged until
 * didcl_remask_unregister of its name returns DIDCL_OK. The host still owns it after. */
DIDCL_API didcl_status didcl_remask_register(const didcl_remask_plugin *desc);

/* Remove a plugin added with didcl_remask_register. DIDCL_ERR_INVALID_ARG when no
 * registered plugin has that name, when it is built in, or while handles opened from it
 * are alive (free them first). Thread-safe. */
DIDCL_API didcl_status didcl_remask_unregister(const char *name);

/* Ask the plugin which positions of a draft to remask. positions has n entries in
 * sequence order; count must not exceed the number of unlocked positions. out_indices
 * needs room for n entries. With count_flexible the plugin may return any number in
 * [1, unlocked]. The selection is validated (count, duplicates, locked or out-of-range
 * positions) and written to out_indices/n_out only if valid; an invalid selection is
 * DIDCL_ERR_PLUGIN and nothing is written. When count is 0 the plugin is not called
 * and *n_out = 0. stage and block_size describe the stage about to run; sample is the
 * sequence's index in a batch (all passed on to the plugin, and the position of its
 * random draws). This is the one place selections are checked: the sampler relies on
 * it. A NULL handle or array is DIDCL_ERR_INVALID_ARG. */
DIDCL_API didcl_status didcl_remask_select(didcl_remask_t r,
                                           const didcl_remask_position *positions, uint32_t n,
                                           uint32_t count, int count_flexible, uint32_t stage,
                                           uint32_t block_size, uint32_t sample,
                                           uint32_t *out_indices, uint32_t *n_out);

/* Where a listed plugin comes from. */
enum didcl_remask_origin {
    DIDCL_REMASK_FILE = 0,       /* a didcl-remask-NAME.so on the search path */
    DIDCL_REMASK_BUILTIN = 1,    /* compiled into libdidcl */
    DIDCL_REMASK_REGISTERED = 2, /* added by the host with didcl_remask_register */
};

/* One plugin that a name can resolve to (see didcl_remask_list). */
typedef struct didcl_remask_info {
    char name[64];          /* what --remask takes: NAME of didcl-remask-NAME.so, or the
                               in-process descriptor's name */
    char plugin_name[64];   /* the descriptor's name ("" if it could not be read) */
    char version[32];       /* the descriptor's version ("" if unreadable) */
    char description[256];  /* the descriptor's description ("" if unreadable) */
    char path[4096];        /* the file, or "(built-in)" / "(registered)" */
    uint32_t abi_version;   /* the descriptor's abi_version (0 if unreadable) */
    didcl_status status;    /* DIDCL_OK if the plugin loads, else why not (in message) */
    char message[512];      /* the refusal ("" when loadable) */
    int shadowed;           /* an earlier entry has the same name: this one is not what
                               the name resolves to */
    enum didcl_remask_origin origin;
} didcl_remask_info;

/* Everything a name can resolve to, in resolution order: every didcl-remask-*.so on the
 * search path (directories in order, names sorted inside a directory; each is dlopen'ed
 * and its descriptor checked in a child process, so that a plugin that aborts, faults or
 * hangs while loading fails its own entry only; its create() is not called), then the
 * built-in plugins
 * (sorted by name), then the registered ones (in registration order). *out is malloc'd;
 * free it with free(). */
DIDCL_API didcl_status didcl_remask_list(const char *plugin_path, didcl_remask_info **out,
                                         size_t *n);

/* The search path as ':'-separated directories (the order above), into buf. */
DIDCL_API didcl_status didcl_remask_search_path(const char *plugin_path, char *buf,
                                                size_t size);
/* ------------------------------------------------------------------------------------
 * Generation: options and per-stage statistics of the DiD sampler
 * ------------------------------------------------------------------------------------ */

/* How a denoising step chooses which masked positions of its block to commit. */
enum didcl_commit_mode {
    DIDCL_COMMIT_FIRST_HITTING = 0, /* one position per forward, uniformly at random among
                                       the block's masked ones (BD3-LM): NFE = #masked */
    DIDCL_COMMIT_STEPS = 1,         /* `steps` forwards per block; each commits
                                       k = ceil(masked / steps_left) positions, those with
                                       the highest confidence (LLaDA low_confidence; ties:
                                       lower position): NFE = min(steps, #masked) per block */
    DIDCL_COMMIT_THRESHOLD = 2,     /* every masked position with confidence >= threshold,
                                       at least the most confident one (Fast-dLLM) */
};

/* What a stage does when the low-entropy rule rejects a sample. */
enum didcl_reject_scope {
    DIDCL_REJECT_SAMPLE = 0, /* restart the whole draft (what the BD3-LM reference does) */
    DIDCL_REJECT_BLOCK = 1,  /* redraw only the block just finished */
};

#define DIDCL_MAX_REVISIONS 8

/* One revision stage (stage 2, 3, ...): remask round(gamma * unlocked) positions (half
 * away from zero) and regenerate them. */
typedef struct didcl_revision {
    double gamma;                   /* fraction of unlocked positions, in [0, 1] */
    int32_t block;                  /* block size B; 0 (or >= the length) = the whole
                                       sequence: global, fully bidirectional attention.
                                       B < length: blocks of B are regenerated left to
                                       right with block-diffusion attention (block j sees
                                       blocks <= j, as the model was trained at block B);
                                       positions after block j are not context */
} didcl_revision;

typedef struct didcl_gen_options {
    uint64_t seed;
    int32_t length;                 /* total tokens incl. BOS and prompt (default 1024) */
    int32_t block;                  /* stage-1 block size, must divide length (4) */
    enum didcl_commit_mode mode;    /* stage-1 commit rule (first-hitting) */
    int32_t steps;                  /* forwards per block in STEPS mode (4); at most
                                       `block` (more is refused: a block of B masks
                                       never takes more than B forwards) */
    double threshold;               /* tau of THRESHOLD mode, in (0, 1] (0.9) */
    double temperature;             /* >= 0; 0 = greedy (1.0) */
    double top_p;                   /* nucleus mass, in (0, 1] (0.9) */
    int use_kv_cache;               /* stage 1 through block_logits + store_kv (1), or
                                       uncached block-causal forwards (0) */
    int var_length;                 /* stop after the first generated EOS (0) */
    int reject_low_entropy;         /* apply the low-entropy rule (0) */
    enum didcl_reject_scope reject_scope;
    int32_t reject_window;          /* tokens the unigram entropy looks at (256) */
    double reject_min_entropy;      /* nats; below it the sample is rejected (4.0) */
    int32_t reject_max_tries;       /* attempts before giving up (10) */
    int32_t n_revisions;            /* revision stages after the draft (0) */
    didcl_revision revisions[DIDCL_MAX_REVISIONS];
    enum didcl_commit_mode revise_mode; /* commit rule of revision stages (first-hitting) */
    int32_t revise_steps;           /* STEPS mode: forwards per revision block (16) */
    double revise_threshold;        /* THRESHOLD mode in revision stages (0.9) */
    int32_t revise_reuse;           /* approximate global revision (0: off, exact): one
                                       exact forward every revise_reuse forwards keeps
                                       every position's K/V; the forwards between run
                                       only the rows whose tokens changed since and the
                                       rows to draw, over those K/V (a cached-step cost,
                                       not a whole-sequence one). 1 = every forward
                                       exact (the same tokens as 0); a value >= the
                                       stage's forwards = one exact pass per stage.
                                       Block-causal revisions (block < length) stay
                                       exact. Quality cost: docs/performance.md */
} didcl_gen_options;

/* The defaults above: BD3-LM's sampler (block 4, first-hitting, top-p 0.9), no revision. */
DIDCL_API didcl_gen_options didcl_gen_options_default(void);

/* Check options against a model and a prompt (n_prompt tokens, placed after BOS):
 * DIDCL_ERR_INVALID_ARG with a message naming the option, e.g. "gen options: block 5
 * does not divide length 1024". model_length <= 0 skips the model check. */
DIDCL_API didcl_status didcl_gen_options_check(const didcl_gen_options *o,
                                               int32_t model_length, int32_t n_prompt);

/* Nonzero when samples under a and under b can be drafted in one lockstep batch (checked
 * options): both use the KV cache, neither can diverge (var_length, reject_low_entropy),
 * same block. Lengths, prompts, seeds, commit rules, temperature, top-p and revision
 * stages may differ. didcl_session_generate batches such requests together. */
DIDCL_API int didcl_gen_options_batchable(const didcl_gen_options *a, const didcl_gen_options *b);

/* What one stage cost and did. Stage 1 is the draft, 2.. the revisions. */
typedef struct didcl_stage_stats {
    int32_t stage;
    int32_t block;                  /* block size used */
    double gamma;                   /* revision ratio (0 for the draft) */
    int32_t remasked;               /* positions set back to MASK (0 for the draft) */
    int32_t committed;              /* tokens committed by this stage */
    int32_t nfe;                    /* committing forwards (BD3-LM's NFE) */
    int32_t store_kv;               /* store-KV forwards, not part of nfe */
    int32_t tries;                  /* attempts (low-entropy rule), 1 if none rejected */
    double flops;                   /* all forwards incl. store-KV, from the model's hook */
    double seconds;                 /* wall time */
} didcl_stage_stats;

/* ------------------------------------------------------------------------------------
 * Sessions: generation as one library call
 *
 * A session holds what every generation needs: a BD3-LM checkpoint, its tokenizer, an
 * OpenCL device and the model on it (sized on first use to the longest sequence and
 * largest batch asked for, grown when a later request needs more). One call generates
 * one request or several, each with its own prompt, options, remask strategy and number
 * of samples, and returns library-owned results: ids, text, per-stage statistics and the
 * per-position trace. An optional event callback sees the run as it happens (stage
 * started, token committed, block finished, stage finished, sample finished) and can
 * cancel it by returning nonzero.
 *
 *     didcl_session_params sp = didcl_session_default_params();    // default model
 *     didcl_session_t s;
 *     if (didcl_session_open(&sp, &s) != DIDCL_OK) {
 *         fprintf(stderr, "%s\n", didcl_last_error());
 *         return 1;
 *     }
 *     didcl_request rq = didcl_request_default();
 *     rq.prompt = "The river";
 *     rq.options.length = 128;
 *     rq.options.seed = 7;
 *     didcl_results *res;
 *     if (didcl_session_generate(s, &rq, 1, NULL, NULL, &res) != DIDCL_OK)
 *         fprintf(stderr, "%s\n", didcl_session_error(s));
 *     else
 *         fwrite(res->samples[0].text, 1, res->samples[0].text_len, stdout);
 *     didcl_results_free(res);
 *     didcl_session_free(s);
 *
 * Threads: a session MUST be used by one thread at a time; different sessions MAY run
 * concurrently. Each session keeps the message of its own last failure
 * (didcl_session_error), independent of other sessions and threads.
 * ------------------------------------------------------------------------------------ */

typedef struct didcl_session *didcl_session_t;

typedef struct didcl_session_params {
    const char *model;       /* BD3-LM checkpoint directory (config.json, safetensors and,
                                unless `tokenizer` is set, a tokenizer); NULL: the default
                                model (see didcl_default_model_dir) */
    const char *tokenizer;   /* tokenizer.json or a directory; NULL: the model's */
    const char *device;      /* device selector as didcl_runtime_init; NULL: its default */
    const char *plugin_path; /* ':'-separated remask plugin directories searched first */
    int half_weights;        /* 1: large matrices as IEEE half on the device */
    uint32_t max_batch;      /* samples drafted in lockstep, 1..DIDCL_MAX_BATCH (16) */
    int profile;             /* 1: a profiling queue; each result's `profile` holds the
                                device time of its call by kind (off: 0) */
} didcl_session_params;

#define DIDCL_MAX_BATCH 64

/* The defaults above: default model, default device, fp32, batches of 16. */
DIDCL_API didcl_session_params didcl_session_default_params(void);

/* The default model's directory into buf: for a library running from its build tree the
 * source tree's models/default, else the installed $(pkgdatadir)/models/default.
 * DIDCL_ERR_NOT_FOUND (naming the places looked at) when neither has a config.json. */
DIDCL_API didcl_status didcl_default_model_dir(char *buf, size_t size);

/* Open a session: load and check the checkpoint (a bd3lm model, else
 * DIDCL_ERR_UNSUPPORTED) and its tokenizer (it must cover the model's ids), open the
 * device. The device model itself is built on the first generate. On failure *out is
 * untouched and the message is didcl_last_error()'s. Free with didcl_session_free. */
DIDCL_API didcl_status didcl_session_open(const didcl_session_params *p, didcl_session_t *out);
DIDCL_API void didcl_session_free(didcl_session_t s);

/* The message of the last failing call on s ("" if none); valid until the next call on s. */
DIDCL_API const char *didcl_session_error(didcl_session_t s);

DIDCL_API const char *didcl_session_model_dir(didcl_session_t s);
DIDCL_API const didcl_model_config *didcl_session_config(didcl_session_t s);
DIDCL_API didcl_tokenizer_t didcl_session_tokenizer(didcl_session_t s); /* owned by s */
DIDCL_API const didcl_device_info *didcl_session_device(didcl_session_t s);

/* Flags of didcl_request.flags. */
enum didcl_request_flags {
    DIDCL_REQUEST_SEQUENTIAL = 1, /* draft the samples one after another, not in lockstep
                                     batches (same tokens; for live per-sample display) */
    DIDCL_REQUEST_NO_SPECIAL = 2, /* special tokens written in the prompt are plain text */
};

/* One generation request. Zero/NULL fields take the defaults noted. */
typedef struct didcl_request {
    const char *prompt;        /* UTF-8 text placed after BOS, never changed; or NULL */
    size_t prompt_len;         /* bytes of prompt (0: strlen) */
    const int32_t *prompt_ids; /* the prompt as ids instead of text (prompt NULL) */
    size_t n_prompt_ids;
    didcl_gen_options options; /* seed, commit rules, revision stages, ...; length 0: the
                                  model's length; block 0: the model's block_size when it
                                  divides the length, else 4 */
    const char *remask;        /* remask strategy spec NAME[:k=v,...] or a .so path for the
                                  revision stages (NULL: "lowconf") */
    uint32_t samples;          /* samples to draw (0: 1); sample i uses RNG stream i */
    uint32_t flags;            /* didcl_request_flags */
} didcl_request;

/* Build the device model a request needs and compile (or load from the kernel cache)
 * every kernel its forwards use, as didcl_session_generate does before stage 1; a later
 * generate of that size compiles nothing. The request is checked as there. The compile
 * part's seconds go to *compile_seconds (may be NULL): 0 when already prepared. */
DIDCL_API didcl_status didcl_session_prepare(didcl_session_t s, const didcl_request *req,
                                             double *compile_seconds);

/* A request with didcl_gen_options_default(), no prompt, one sample. */
DIDCL_API didcl_request didcl_request_default(void);

/* Check a request against the session as didcl_session_generate would, without
 * generating: the options (with defaults applied), the prompt (tokenized; it must leave
 * room for a generated token and hold no [MASK] or out-of-vocabulary id) and the remask
 * spec (loaded). DIDCL_ERR_INVALID_ARG or DIDCL_ERR_PLUGIN (or the tokenizer's
 * DIDCL_ERR_ENCODING) with a message naming the field. The resolved options (defaults
 * applied) go to *resolved when it is not NULL. */
DIDCL_API didcl_status didcl_session_check(didcl_session_t s, const didcl_request *req,
                                           didcl_gen_options *resolved);

/* One finished sample. Everything pointed to is owned by its didcl_results. */
typedef struct didcl_sample {
    uint32_t request;                   /* index of its request in the call */
    uint32_t index;                     /* sample index inside the request */
    didcl_gen_options options;          /* the options it ran with (defaults resolved) */
    char remask[64];                    /* name of the remask strategy of its request */
    int32_t n;                          /* final length, BOS included */
    const int32_t *tokens;              /* (n,) BOS, prompt, generated tokens */
    int32_t n_prompt;                   /* prompt tokens (positions 1..n_prompt) */
    const int32_t *ids;                 /* (n_ids,) the text's ids: tokens + 1, less a final
                                           end-of-text that stopped a var_length run */
    int32_t n_ids;
    const char *text;                   /* the decoded ids (prompt included), text_len
                                           bytes, NUL-terminated; exact bytes, possibly not
                                           valid UTF-8 */
    size_t text_len;
    const didcl_remask_position *trace; /* (n,) per position: token, confidence, entropy,
                                           margin, stage, block, step, nfe at its commit */
    const int32_t *draft;               /* (n,) tokens after stage 1 */
    const uint32_t *remasked;           /* (n,) bit k-2 set: remasked by stage k */
    int32_t n_stages;                   /* 1 + revision stages */
    didcl_stage_stats stages[1 + DIDCL_MAX_REVISIONS];
    int low_entropy;                    /* the last draft attempt failed the entropy rule */
    uint32_t batch;                     /* size of the lockstep batch it was drafted in */
} didcl_sample;

/* The results of one generate call, owned by the library: free with didcl_results_free. */
typedef struct didcl_results {
    size_t n;                     /* samples, all requests, in request then sample order */
    const didcl_sample *samples;  /* (n,) */
    int32_t n_stages;             /* stages of the longest request */
    didcl_stage_stats totals[1 + DIDCL_MAX_REVISIONS]; /* per stage, summed over samples */
    int64_t generated;            /* tokens generated (n_ids - n_prompt, summed) */
    double seconds;               /* wall time of the call, less load_seconds */
    double load_seconds;          /* building the device model (first use, or growth) */
    uint32_t batch;               /* largest lockstep batch used */
    didcl_status status;          /* didcl_session_generate_each: this request's outcome
                                     (samples only when DIDCL_OK); else DIDCL_OK */
    const char *error;            /* its message when it failed, else "" */
    double compile_seconds;       /* compiling kernels (or loading them from the kernel
                                     cache) before stage 1, not in any stage's time */
    didcl_profile profile;        /* device time of this call by kind, when the session
                                     profiles (enabled 0 otherwise) */
} didcl_results;

DIDCL_API void didcl_results_free(didcl_results *r);

enum didcl_event_kind {
    DIDCL_EVENT_STAGE_START = 0, /* stage 1: a draft attempt starts (seq: BOS, prompt,
                                    masks; `attempt` counts them); stage k >= 2: its
                                    positions were just set back to [MASK] (`remasked`
                                    of them, 0 when gamma selects none) */
    DIDCL_EVENT_COMMIT = 1,      /* a forward committed positions of [start, start+len) */
    DIDCL_EVENT_BLOCK_DONE = 2,  /* the block [start, start+len) has no mask left */
    DIDCL_EVENT_STAGE_DONE = 3,  /* the stage is over; n is the length it left */
    DIDCL_EVENT_SAMPLE_DONE = 4, /* the sample is finished: `result` holds it */
};

/* What the event callback sees. Everything pointed to is valid only during the call. */
typedef struct didcl_event {
    enum didcl_event_kind kind;
    uint32_t request;                   /* index of the request in the call */
    uint32_t sample;                    /* sample index inside the request */
    uint32_t stage;                     /* 1 = draft, 2.. = revisions */
    int32_t attempt;                    /* draft attempt (1 unless the entropy rule redrew) */
    int32_t n;                          /* current length */
    int32_t start, len;                 /* COMMIT, BLOCK_DONE: the block concerned */
    int32_t remasked;                   /* STAGE_START of a revision: positions remasked */
    int32_t nfe;                        /* committing forwards of this sample so far */
    int32_t n_prompt;                   /* prompt tokens after BOS */
    const int32_t *seq;                 /* (n,) tokens; masked positions hold the mask id */
    const didcl_remask_position *trace; /* (n,) the trajectory so far */
    const uint32_t *remasked_by;        /* (n,) bit k-2: remasked by stage k (so far) */
    const didcl_sample *result;         /* SAMPLE_DONE: the finished sample; else NULL */
} didcl_event;

/* Return 0 to go on; nonzero cancels the call, which then fails with DIDCL_ERR_CANCELLED
 * and returns no results (didcl_session_generate_each: cancels that request only).
 * Events of a lockstep batch's samples interleave in stage 1 (ev->request and ev->sample
 * tell them apart; a batch may hold samples of several requests). */
typedef int (*didcl_event_fn)(const didcl_event *ev, void *user);

/* Generate n_req requests. Their samples are drafted together in lockstep batches of up
 * to max_batch sequences (stage 1; then each sample's revisions alone) whenever their
 * options allow (didcl_gen_options_batchable: same block, the KV cache, nothing that
 * makes samples diverge; the prompts, lengths, seeds and other options may differ), in
 * request then sample order; a request with DIDCL_REQUEST_SEQUENTIAL runs its samples
 * alone. Every sample is exactly what it would be alone (tokens, trace, counts). Each
 * request is checked (didcl_session_check) before anything runs. on_event may be NULL.
 * All or nothing: on success *out holds every sample; on failure (or a cancel) nothing is
 * returned and didcl_session_error(s) (and didcl_last_error()) says which request and
 * sample failed and why. */
DIDCL_API didcl_status didcl_session_generate(didcl_session_t s, const didcl_request *reqs,
                                              size_t n_req, didcl_event_fn on_event,
                                              void *user, didcl_results **out);

/* didcl_session_generate for independent requests (a server's queue): batched the same
 * way, but each request succeeds or fails alone. out (n_req pointers) receives one
 * results per request, each freed with didcl_results_free: out[i]->status is DIDCL_OK and
 * its samples are there, or it is the request's failure with out[i]->error, its message
 * (a bad request, a plugin failing, a device error, or a cancel: on_event returning
 * nonzero for an event of request i cancels request i only). Returns DIDCL_OK when every
 * request succeeded, else the first failed request's status; a failure of the call itself
 * (a NULL argument, out of memory) leaves every out[i] NULL. */
DIDCL_API didcl_status didcl_session_generate_each(didcl_session_t s, const didcl_request *reqs,
                                                   size_t n_req, didcl_event_fn on_event,
                                                   void *user, didcl_results **out);

#ifdef __cplusplus
}
#endif
#endif /* DIDCL_H */
