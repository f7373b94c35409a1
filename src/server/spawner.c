/* SPDX-License-Identifier: MIT */
/* The spawning task (see spawner.h). */
#include "server/spawner.h"

#include <string.h>

static void spawn_run(struct work *w)
{
    struct spawn_req *r = (struct spawn_req *)w;
    r->rc = runner_spawn(&r->spec, &r->child, &r->fail);
}

void spawner_req_init(struct spawn_req *r, struct conn *conn)
{
    memset(r, 0, sizeof *r);
    r->work.run = spawn_run;
    r->conn = conn;
}
