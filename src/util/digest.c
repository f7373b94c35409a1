/* SPDX-License-Identifier: MIT */
#include "util/digest.h"

#include <errno.h>
#include <stdlib.h>
/* The low-level SHA-512 calls run the same assembly as EVP's, without
 * EVP's provider machinery: the static dispatchers stay under 1 MB (EVP
 * alone would add 3.5 MB).  They are deprecated in OpenSSL 3, not gone. */
#define OPENSSL_API_COMPAT 10101
#include <openssl/sha.h>

#include "util/fdio.h"
#include "util/xmalloc.h"

#define HASH_CHUNK (256 * 1024)

int digest_sha512_fd(int fd, uint8_t digest[DIGEST_SHA512_SIZE])
{
    uint8_t *chunk = xmalloc(HASH_CHUNK);
    SHA512_CTX ctx;
    if (!SHA512_Init(&ctx))
        abort();
    int err = 0;
    for (;;) {
        ssize_t n = fdio_read(fd, chunk, HASH_CHUNK);
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0)
            break;
        SHA512_Update(&ctx, chunk, (size_t)n);
    }
    SHA512_Final(digest, &ctx);
    free(chunk);
    return err;
}
