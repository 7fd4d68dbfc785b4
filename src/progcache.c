/*
 * progcache.c — on-disk kernel binary cache (format and rules in progcache.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "progcache.h"
#include "sha256.h"

static const char MAGIC[8] = {'D', 'I', 'D', 'C', 'L', 'K', 'B', '\0'};

static void hash_field(didcl_sha256 *h, const void *data, size_t n) {
    uint64_t len = n; /* length-prefix each field so concatenations cannot collide */
    didcl_sha256_update(h, &len, sizeof len);
    didcl_sha256_update(h, data, n);
}

void didcl_progcache_key(const didcl_device_info *d, const char *source, size_t source_len,
                         const char *options, char key[65]) {
    didcl_sha256 h;
    uint32_t fmt = DIDCL_PROGCACHE_FORMAT;
    didcl_sha256_init(&h);
    hash_field(&h, &fmt, sizeof fmt);
    hash_field(&h, source, source_len);
    hash_field(&h, options ? options : "", options ? strlen(options) : 0);
    hash_field(&h, d->name, strlen(d->name));
    hash_field(&h, d->version, strlen(d->version));
    hash_field(&h, d->driver, strlen(d->driver));
    hash_field(&h, d->platform, strlen(d->platform));
    hash_field(&h, d->platform_version, strlen(d->platform_version));
    didcl_sha256_hex(&h, key);
}

static int path_of(char *buf, size_t size, const char *dir, const char *key, const char *suffix) {
    int n = snprintf(buf, size, "%s/%s%s", dir, key, suffix);
    return n > 0 && (size_t)n < size;
}

int didcl_progcache_dir_ok(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno == ENOENT;
    return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & (S_IWGRP | S_IWOTH));
}

void didcl_progcache_drop(const char *dir, const char *key) {
    char path[4096];
    if (dir && *dir && path_of(path, sizeof path, dir, key, ".bin"))
        unlink(path);
}

int didcl_progcache_load(const char *dir, const char *key, unsigned char **bin, size_t *len) {
    char path[4096];
    if (!dir || !*dir || !path_of(path, sizeof path, dir, key, ".bin") ||
        !didcl_progcache_dir_ok(dir))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char magic[8];
    uint32_t fmt;
    uint64_t size;
    uint8_t sum[32], check[32];
    unsigned char *data = NULL;
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, MAGIC, 8) &&
             fread(&fmt, sizeof fmt, 1, f) == 1 && fmt == DIDCL_PROGCACHE_FORMAT &&
             fread(&size, sizeof size, 1, f) == 1 && size > 0 && size < ((uint64_t)1 << 32) &&
             fread(sum, 1, 32, f) == 32 && (data = malloc((size_t)size)) != NULL &&
             fread(data, 1, (size_t)size, f) == size && fgetc(f) == EOF;
    fclose(f);
    if (ok) {
        didcl_sha256 h;
        didcl_sha256_init(&h);
        didcl_sha256_update(&h, data, (size_t)size);
        didcl_sha256_final(&h, check);
        ok = !memcmp(sum, check, 32);
    }
    if (!ok) {
        free(data);
        didcl_log(DIDCL_LOG_DEBUG, "kernel cache: ignoring unusable entry %s", path);
        return 0;
    }
    *bin = data;
    *len = (size_t)size;
    return 1;
}

/* mkdir -p */
static int make_dirs(const char *dir) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
        return 0;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return 0;
        *p = '/';
    }
    return mkdir(tmp, 0700) == 0 || errno == EEXIST;
}

int didcl_progcache_store(const char *dir, const char *key, const unsigned char *bin, size_t len) {
    char path[4096], tmp[4096];
    if (!dir || !*dir || !bin || len == 0 || !make_dirs(dir) || !didcl_progcache_dir_ok(dir))
        return 0;
    if (!path_of(path, sizeof path, dir, key, ".bin") ||
        !path_of(tmp, sizeof tmp, dir, key, ".tmp.XXXXXX"))
        return 0;
    /* mkstemp: a fresh name, O_EXCL, mode 0600; never an existing file or symlink */
    int fd = mkstemp(tmp);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "wb");
    if (!f) {
        if (fd >= 0) {
            close(fd);
            remove(tmp);
        }
        return 0;
    }
    uint32_t fmt = DIDCL_PROGCACHE_FORMAT;
    uint64_t size = len;
    uint8_t sum[32];
    didcl_sha256 h;
    didcl_sha256_init(&h);
    didcl_sha256_update(&h, bin, len);
    didcl_sha256_final(&h, sum);
    int ok = fwrite(MAGIC, 1, 8, f) == 8 && fwrite(&fmt, sizeof fmt, 1, f) == 1 &&
             fwrite(&size, sizeof size, 1, f) == 1 && fwrite(sum, 1, 32, f) == 32 &&
             fwrite(bin, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        didcl_log(DIDCL_LOG_DEBUG, "kernel cache: could not write %s", path);
        return 0;
    }
    return 1;
}
