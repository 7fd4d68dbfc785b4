/*
 * sha256.h — SHA-256 (FIPS 180-4), used to key the kernel binary cache.
 */
#ifndef DIDCL_SHA256_H
#define DIDCL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct didcl_sha256 {
    uint32_t h[8];
    uint64_t len;        /* bytes hashed so far */
    uint8_t buf[64];
    size_t fill;
} didcl_sha256;

void didcl_sha256_init(didcl_sha256 *s);
void didcl_sha256_update(didcl_sha256 *s, const void *data, size_t n);
void didcl_sha256_final(didcl_sha256 *s, uint8_t out[32]);
/* Hex digest of the state (64 chars + NUL); finalizes s. */
void didcl_sha256_hex(didcl_sha256 *s, char out[65]);

#endif /* DIDCL_SHA256_H */
