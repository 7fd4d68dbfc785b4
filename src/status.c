/*
 * status.c — status names, the per-thread last-error message, OpenCL error names and
 * the log callback. Everything else reports errors through here (see error.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "error.h"

#define ERRMSG_MAX 4096

static _Thread_local char errmsg[ERRMSG_MAX];
static _Thread_local int32_t errcl;

static didcl_log_fn log_fn;
static void *log_user;

const char *didcl_version(void) { return PACKAGE_VERSION; }

const char *didcl_status_str(didcl_status status) {
    switch (status) {
    case DIDCL_OK: return "DIDCL_OK";
    case DIDCL_ERR_INVALID_ARG: return "DIDCL_ERR_INVALID_ARG";
    case DIDCL_ERR_NO_MEMORY: return "DIDCL_ERR_NO_MEMORY";
    case DIDCL_ERR_IO: return "DIDCL_ERR_IO";
    case DIDCL_ERR_FORMAT: return "DIDCL_ERR_FORMAT";
    case DIDCL_ERR_UNSUPPORTED: return "DIDCL_ERR_UNSUPPORTED";
    case DIDCL_ERR_NOT_FOUND: return "DIDCL_ERR_NOT_FOUND";
    case DIDCL_ERR_NO_PLATFORM: return "DIDCL_ERR_NO_PLATFORM";
    case DIDCL_ERR_NO_DEVICE: return "DIDCL_ERR_NO_DEVICE";
    case DIDCL_ERR_BUILD: return "DIDCL_ERR_BUILD";
    case DIDCL_ERR_OPENCL: return "DIDCL_ERR_OPENCL";
    case DIDCL_ERR_CLBLAST: return "DIDCL_ERR_CLBLAST";
    case DIDCL_ERR_PLUGIN: return "DIDCL_ERR_PLUGIN";
    case DIDCL_ERR_SHAPE: return "DIDCL_ERR_SHAPE";
    case DIDCL_ERR_ENCODING: return "DIDCL_ERR_ENCODING";
    case DIDCL_ERR_CANCELLED: return "DIDCL_ERR_CANCELLED";
    }
    return "DIDCL_ERR_UNKNOWN";
}

const char *didcl_last_error(void) { return errmsg; }
int32_t didcl_last_cl_error(void) { return errcl; }
void didcl_error_clear(void) { errmsg[0] = '\0'; errcl = 0; }

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if there is none. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
               : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* overlong 3/4-byte forms, UTF-16 surrogates, code points past U+10FFFF */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    if (s[0] == 0xc2 && s[1] < 0xa0) /* C1 controls: some terminals obey them too */
        return 0;
    return len;
}

/* Copy src into dst as one printable line: messages quote file contents and names
 * (tensor, shard, token), which must not reach a terminal or log as raw control bytes.
 * Newline and tab become \n and \t; other control bytes (C0, DEL, C1) and bytes that
 * are not UTF-8 become \xNN. Truncates at a character boundary. */
static void escape_into(char *dst, size_t size, const char *src) {
    const unsigned char *s = (const unsigned char *)src;
    size_t n = strlen(src), o = 0;
    for (size_t i = 0; i < n;) {
        char esc[8];
        size_t len = utf8_seq(s + i, n - i), w;
        const char *out = (const char *)s + i;
        if (s[i] == '\n' || s[i] == '\t') {
            snprintf(esc, sizeof esc, "\\%c", s[i] == '\n' ? 'n' : 't');
            out = esc, w = 2, len = 1;
        } else if (len == 0 || s[i] < 0x20 || s[i] == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", s[i]);
            out = esc, w = 4, len = 1;
        } else
            w = len;
        if (o + w >= size)
            break;
        memcpy(dst + o, out, w);
        o += w;
        i += len;
    }
    dst[o] = '\0';
}

/* Format into errmsg through escape_into; returns the length written. */
static size_t set_message(const char *fmt, va_list ap) {
    char raw[ERRMSG_MAX];
    vsnprintf(raw, sizeof raw, fmt, ap);
    escape_into(errmsg, sizeof errmsg, raw);
    return strlen(errmsg);
}

didcl_status didcl_fail(didcl_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_message(fmt, ap);
    va_end(ap);
    didcl_log(DIDCL_LOG_DEBUG, "%s: %s", didcl_status_str(status), errmsg);
    return status;
}

didcl_status didcl_fail_cl(int32_t cl_code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = set_message(fmt, ap);
    va_end(ap);
    snprintf(errmsg + n, sizeof errmsg - n, ": %s (%d)", didcl_cl_error_str(cl_code),
             (int)cl_code);
    errcl = cl_code;
    return DIDCL_ERR_OPENCL;
}

didcl_status didcl_fail_context(didcl_status status, const char *fmt, ...) {
    char old[ERRMSG_MAX];
    va_list ap;
    memcpy(old, errmsg, sizeof old); /* already escaped */
    va_start(ap, fmt);
    size_t n = set_message(fmt, ap);
    va_end(ap);
    snprintf(errmsg + n, sizeof errmsg - n, ": %s", old);
    return status;
}

void didcl_log_set(didcl_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

void didcl_log(enum didcl_log_level level, const char *fmt, ...) {
    char raw[ERRMSG_MAX], msg[ERRMSG_MAX];
    va_list ap;
    if (!log_fn && level < DIDCL_LOG_WARN)
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    escape_into(msg, sizeof msg, raw);
    if (log_fn)
        log_fn(level, msg, log_user);
    else
        fprintf(stderr, "didcl: %s: %s\n", level == DIDCL_LOG_ERROR ? "error" : "warning", msg);
}

const char *didcl_cl_error_str(int32_t code) {
    static const struct { int32_t code; const char *name; } names[] = {
        {0, "CL_SUCCESS"}, {-1, "CL_DEVICE_NOT_FOUND"}, {-2, "CL_DEVICE_NOT_AVAILABLE"},
        {-3, "CL_COMPILER_NOT_AVAILABLE"}, {-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE"},
        {-5, "CL_OUT_OF_RESOURCES"}, {-6, "CL_OUT_OF_HOST_MEMORY"},
        {-7, "CL_PROFILING_INFO_NOT_AVAILABLE"}, {-8, "CL_MEM_COPY_OVERLAP"},
        {-9, "CL_IMAGE_FORMAT_MISMATCH"}, {-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED"},
        {-11, "CL_BUILD_PROGRAM_FAILURE"}, {-12, "CL_MAP_FAILURE"},
        {-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET"},
        {-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"},
        {-15, "CL_COMPILE_PROGRAM_FAILURE"}, {-16, "CL_LINKER_NOT_AVAILABLE"},
        {-17, "CL_LINK_PROGRAM_FAILURE"}, {-18, "CL_DEVICE_PARTITION_FAILED"},
        {-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE"}, {-30, "CL_INVALID_VALUE"},
        {-31, "CL_INVALID_DEVICE_TYPE"}, {-32, "CL_INVALID_PLATFORM"},
        {-33, "CL_INVALID_DEVICE"}, {-34, "CL_INVALID_CONTEXT"},
        {-35, "CL_INVALID_QUEUE_PROPERTIES"}, {-36, "CL_INVALID_COMMAND_QUEUE"},
        {-37, "CL_INVALID_HOST_PTR"}, {-38, "CL_INVALID_MEM_OBJECT"},
        {-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR"}, {-40, "CL_INVALID_IMAGE_SIZE"},
        {-41, "CL_INVALID_SAMPLER"}, {-42, "CL_INVALID_BINARY"},
        {-43, "CL_INVALID_BUILD_OPTIONS"}, {-44, "CL_INVALID_PROGRAM"},
        {-45, "CL_INVALID_PROGRAM_EXECUTABLE"}, {-46, "CL_INVALID_KERNEL_NAME"},
        {-47, "CL_INVALID_KERNEL_DEFINITION"}, {-48, "CL_INVALID_KERNEL"},
        {-49, "CL_INVALID_ARG_INDEX"}, {-50, "CL_INVALID_ARG_VALUE"},
        {-51, "CL_INVALID_ARG_SIZE"}, {-52, "CL_INVALID_KERNEL_ARGS"},
        {-53, "CL_INVALID_WORK_DIMENSION"}, {-54, "CL_INVALID_WORK_GROUP_SIZE"},
        {-55, "CL_INVALID_WORK_ITEM_SIZE"}, {-56, "CL_INVALID_GLOBAL_OFFSET"},
        {-57, "CL_INVALID_EVENT_WAIT_LIST"}, {-58, "CL_INVALID_EVENT"},
        {-59, "CL_INVALID_OPERATION"}, {-60, "CL_INVALID_GL_OBJECT"},
        {-61, "CL_INVALID_BUFFER_SIZE"}, {-62, "CL_INVALID_MIP_LEVEL"},
        {-63, "CL_INVALID_GLOBAL_WORK_SIZE"}, {-64, "CL_INVALID_PROPERTY"},
        {-65, "CL_INVALID_IMAGE_DESCRIPTOR"}, {-66, "CL_INVALID_COMPILER_OPTIONS"},
        {-67, "CL_INVALID_LINKER_OPTIONS"}, {-68, "CL_INVALID_DEVICE_PARTITION_COUNT"},
        {-1001, "CL_PLATFORM_NOT_FOUND_KHR"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].code == code)
            return names[i].name;
    return "CL_UNKNOWN_ERROR";
}
