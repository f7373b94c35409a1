/* SPDX-License-Identifier: MIT */
/* FNV-1a, 64 bits: the one non-cryptographic hash of the tree (hash
 * tables, names that must differ when their inputs do).  Never for
 * anything an attacker may choose to collide: SHA-2 (digest.h) is for
 * that. */
#ifndef CONDUIT_UTIL_FNV_H
#define CONDUIT_UTIL_FNV_H

#include <stddef.h>
#include <stdint.h>

/* The hash of no bytes: where a hash starts. */
#define FNV1A64_INIT 0xcbf29ce484222325ULL

/* h continued over len bytes at data.  Returns the new hash. */
static inline uint64_t fnv1a64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

#endif
