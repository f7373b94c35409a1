/* SPDX-License-Identifier: MIT */
/* The option=value settings of a configuration line.  Internal to config.c. */
#ifndef CONDUIT_SERVER_CONFIG_OPTION_H
#define CONDUIT_SERVER_CONFIG_OPTION_H

#include <stdbool.h>

#include "server/config.h"

/* An option is a letter, then letters, digits or '-', then '=' and at least
 * one more character (the upstream rule; anything else is an ACL entry). */
bool config_is_option(const char *token);

/* Apply one option to the rule (a repeated option replaces the earlier one).
 * Returns 0, or -1 with *error. */
int config_set_option(struct config_rule *rule, const char *token, char **error);

#endif
