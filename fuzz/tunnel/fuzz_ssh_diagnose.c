/* SPDX-License-Identifier: MIT */
/* libFuzzer target: client_ssh_diagnose on arbitrary text (ssh's stderr
 * carries whatever the remote side writes to its stderr too). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so reading past it is caught. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    char *cause = client_ssh_diagnose(text, size);
    if (cause && strlen(cause) == 0)
        abort(); /* a cause is a sentence, never empty */
    free(cause);
    free(text);
    return 0;
}
