/*
 * tokenizer.h — internal helpers of the byte-level BPE tokenizer (tokenizer.c) that
 * other modules may share. The tokenizer API itself is public, in include/didcl.h.
 */
#ifndef DIDCL_TOKENIZER_H
#define DIDCL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* Length of the longest valid UTF-8 prefix of s[0..n): n when all of s is valid. Rejects
 * overlong forms, surrogates (U+D800..DFFF), code points above U+10FFFF and truncated
 * sequences. */
size_t didcl_utf8_valid_prefix(const char *s, size_t n);

/* GPT-2's byte-to-unicode table: the code point that stands for byte b in token strings
 * (printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100..U+0143). */
uint32_t didcl_byte_to_unicode(uint8_t b);

#endif /* DIDCL_TOKENIZER_H */
