/*
 * progcache.h — on-disk cache of compiled OpenCL program binaries.
 *
 * Key: SHA-256 over (format version, source, build options, device name, device
 * version, driver version, platform name, platform version), so a driver or source
 * change is a miss, never a stale hit. One file per key, <dir>/<key>.bin:
 *
 *     "DIDCLKB\0" | u32 format version | u64 binary size | 32-byte SHA-256 of binary | binary
 *
 * Writes go to a temporary file in the same directory and are renamed into place, so
 * concurrent processes see a whole file or none. Every failure (missing directory,
 * unreadable, corrupt, short, checksum mismatch) is a silent miss: the caller compiles
 * from source instead. Nothing here ever fails a build.
 *
 * A binary from the cache runs as code on the device, so the directory must be this
 * user's alone: directories are created 0700, a directory that others may write or
 * that another user owns is never read or written (the runtime warns and turns the
 * cache off), and the temporary file comes from mkstemp (O_EXCL, mode 0600), so a
 * symlink planted at a guessable name is never followed.
 */
#ifndef DIDCL_PROGCACHE_H
#define DIDCL_PROGCACHE_H

#include <stddef.h>

#include "didcl.h"

#define DIDCL_PROGCACHE_FORMAT 1u

/* Hex key (64 chars + NUL) for a program build on device. */
void didcl_progcache_key(const didcl_device_info *device, const char *source, size_t source_len,
                         const char *options, char key[65]);

/* Read a cached binary; returns 1 and a malloc'd *bin on a valid hit, else 0. */
int didcl_progcache_load(const char *dir, const char *key, unsigned char **bin, size_t *len);

/* 1 when dir may hold binaries: absent (created on the first store), or a directory
 * owned by this user that neither group nor others can write. Else 0. */
int didcl_progcache_dir_ok(const char *dir);

/* Delete the entry of key (one that loaded but proved wrong). */
void didcl_progcache_drop(const char *dir, const char *key);

/* Store a binary (creating dir and its parents); returns 1 on success, else 0. */
int didcl_progcache_store(const char *dir, const char *key, const unsigned char *bin, size_t len);

#endif /* DIDCL_PROGCACHE_H */
