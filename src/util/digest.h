/* SPDX-License-Identifier: MIT */
/* SHA-512 of a file, read in large chunks: what Stat reports, what
 * libconduit compares a local file against, and what conduit's tree copies
 * check.  The one hashing routine of the tree (needs libcrypto). */
#ifndef CONDUIT_UTIL_DIGEST_H
#define CONDUIT_UTIL_DIGEST_H

#include <stdint.h>

#define DIGEST_SHA512_SIZE 64

/* SHA-512 of what is left to read on fd (read to its end).  Returns 0, or
 * an errno value. */
int digest_sha512_fd(int fd, uint8_t digest[DIGEST_SHA512_SIZE]);

#endif
