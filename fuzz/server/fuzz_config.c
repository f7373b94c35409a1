/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the input is a remctld configuration file.  Includes
 * and file: ACLs are disabled (CONFIG_NO_INCLUDE) so that nothing outside
 * the input is read; whatever parses is then queried and checked, to reach
 * the matching and ACL code with the parsed rules. */
#include <stdint.h>
#include <stdlib.h>

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *error = NULL;
    struct config *config = config_parse("fuzz", data, size, CONFIG_NO_INCLUDE, &error);
    if (!config) {
        /* A rejected input must say why. */
        if (!error)
            abort();
        free(error);
        return 0;
    }
    if (error)
        abort();
    static const char *const commands[][2] = {
        {"test", "test"}, {"test", NULL}, {"ALL", "EMPTY"}, {"help", NULL}, {"a", "b"},
    };
    static const struct acl_subject subjects[] = {
        {"user@EXAMPLE.ORG", false},
        {"WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS", true},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct config_rule *rule = config_find(config, commands[i][0], commands[i][1]);
        if (!rule)
            continue;
        for (size_t j = 0; j < sizeof subjects / sizeof subjects[0]; j++) {
            char *reason = NULL;
            enum acl_result r = config_check(config, rule, &subjects[j], &reason);
            if (r != ACL_ALLOW && r != ACL_DENY && r != ACL_ERROR)
                abort();
            free(reason);
        }
        (void)config_rule_masks(rule, 1);
    }
    config_free(config);
    return 0;
}
