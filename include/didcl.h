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
 * DIDCL_ERR_ENCODING names the byte offset of invalid UTF-8. */
DIDCL_API didcl_status didcl_tokenizer_encode(didcl_tokenizer_t tok, const char *text, size_t len,
                                              uint32_t flags, int32_t **ids, size_t *n_ids);

/* Decode ids to the exact bytes they stand for (special tokens as their content). On
 * success *text is a malloc'd, NUL-terminated buffer of *len bytes the caller frees.
 * DIDCL_ERR_INVALID_ARG names an id out of range and its position. */
DIDCL_API didcl_status didcl_tokenizer_decode(didcl_tokenizer_t tok, const int32_t *ids,
                                              size_t n_ids, char **text, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* DIDCL_H */
