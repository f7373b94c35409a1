/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the input is the text of an ACL file (the file: method),
 * checked for two principals with file: entries disabled, so nothing outside
 * the input is read. */
#include <stdint.h>
#include <stdlib.h>

#include "server/acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct acl_subject subjects[] = {
        {"user@EXAMPLE.ORG", false},
        {"WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS", true},
    };
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
        char *reason = NULL;
        enum acl_result r = acl_check_text("fuzz-acl", data, size, &subjects[i], false, &reason);
        /* Every outcome is decided and explained. */
        if ((r != ACL_ALLOW && r != ACL_DENY && r != ACL_ERROR) || !reason)
            abort();
        free(reason);
    }
    return 0;
}
