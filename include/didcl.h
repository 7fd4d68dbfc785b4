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
    DIDCL_ERR_ENCODING = -14,    /* text is not valid UTF-8 */
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
    int32_t block;                  /* block size; 0 = the whole sequence (global) */
} didcl_revision;

typedef struct didcl_gen_options {
    uint64_t seed;
    int32_t length;                 /* total tokens incl. BOS and prompt (default 1024) */
    int32_t block;                  /* stage-1 block size, must divide length (4) */
    enum didcl_commit_mode mode;    /* stage-1 commit rule (first-hitting) */
    int32_t steps;                  /* forwards per block in STEPS mode (4) */
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
} didcl_gen_options;

/* The defaults above: BD3-LM's sampler (block 4, first-hitting, top-p 0.9), no revision. */
DIDCL_API didcl_gen_options didcl_gen_options_default(void);

/* Check options against a model and a prompt (n_prompt tokens, placed after BOS):
 * DIDCL_ERR_INVALID_ARG with a message naming the option, e.g. "gen options: block 5
 * does not divide length 1024". model_length <= 0 skips the model check. */
DIDCL_API didcl_status didcl_gen_options_check(const didcl_gen_options *o,
                                               int32_t model_length, int32_t n_prompt);

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

#ifdef __cplusplus
}
#endif
#endif /* DIDCL_H */
