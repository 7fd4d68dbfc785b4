/*
 * error.h — internal error and log helpers (implemented in status.c).
 *
 * A failing library function records one readable line for didcl_last_error() and
 * returns its status in the same statement:
 *
 *     if (hdr_len > file_size)
 *         return didcl_fail(DIDCL_ERR_FORMAT, "%s: header length %llu exceeds file size %llu",
 *                           path, hdr_len, file_size);
 */
#ifndef DIDCL_ERROR_H
#define DIDCL_ERROR_H

#include "didcl.h"

#if defined(__GNUC__)
#define DIDCL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DIDCL_PRINTF(a, b)
#endif

/* Record a message for didcl_last_error() and return status. */
didcl_status didcl_fail(didcl_status status, const char *fmt, ...) DIDCL_PRINTF(2, 3);

/* Record an OpenCL failure: keeps the raw code for didcl_last_cl_error() and appends its
 * name to the message. Returns DIDCL_ERR_OPENCL. */
didcl_status didcl_fail_cl(int32_t cl_code, const char *fmt, ...) DIDCL_PRINTF(2, 3);

/* Prefix the current last-error message with more context ("file X: " + old message)
 * and return status unchanged. */
didcl_status didcl_fail_context(didcl_status status, const char *fmt, ...) DIDCL_PRINTF(2, 3);

/* Clear this thread's last error. */
void didcl_error_clear(void);

/* Send a message to the host's log callback. */
void didcl_log(enum didcl_log_level level, const char *fmt, ...) DIDCL_PRINTF(2, 3);

/* Return early on any failure; the callee already recorded the message. */
#define DIDCL_TRY(expr)                          \
    do {                                         \
        didcl_status didcl_try_ = (expr);        \
        if (didcl_try_ != DIDCL_OK)              \
            return didcl_try_;                   \
    } while (0)

/* Run an OpenCL call returning cl_int; on failure record "what: CL_NAME (code)" and
 * return DIDCL_ERR_OPENCL. */
#define DIDCL_CL_TRY(call, what)                              \
    do {                                                      \
        cl_int didcl_cl_ = (call);                            \
        if (didcl_cl_ != CL_SUCCESS)                          \
            return didcl_fail_cl(didcl_cl_, "%s", (what));    \
    } while (0)

#endif /* DIDCL_ERROR_H */
