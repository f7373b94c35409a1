/* SPDX-License-Identifier: MIT */
/* The node-set parser on any text: it expands or refuses with a message,
 * never more than NODESET_MAX_NAMES names, and what it expands folds back
 * into a set that expands to the same names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/nodeset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Large expansions are slow, not interesting: keep inputs short. */
    if (size > 256)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct nodeset s = NODESET_INIT;
    char err[256];
    err[0] = 0;
    if (nodeset_add(&s, text, err, sizeof err) < 0) {
        if (!err[0])
            abort(); /* a refusal always says why */
    } else if (s.names.n <= 10000) {
        char *folded = nodeset_fold(s.names.v, s.names.n);
        struct nodeset again = NODESET_INIT;
        /* Names holding brackets or commas are not foldable text. */
        bool plain = true;
        for (size_t i = 0; i < s.names.n && plain; i++)
            plain = !strpbrk(s.names.v[i], "[],");
        if (plain) {
            if (nodeset_add(&again, folded, err, sizeof err) < 0 || again.names.n != s.names.n)
                abort();
            for (size_t i = 0; i < s.names.n; i++)
                if (!nodeset_contains(&again, s.names.v[i]))
                    abort();
        }
        nodeset_free(&again);
        free(folded);
    }
    if (s.names.n > NODESET_MAX_NAMES)
        abort();
    nodeset_free(&s);
    free(text);
    return 0;
}
