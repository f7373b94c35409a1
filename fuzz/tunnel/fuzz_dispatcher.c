/* SPDX-License-Identifier: MIT */
/* Fuzz the dispatcher's real request loop: the input bytes are the whole
 * request stream, read from memory.  Lookups (Stat, Resolve*, Query*,
 * Getenv) run for real; ProcessRun, RunStart (with the run/1 packets that
 * follow it), Upload, Download and the files/1 requests (FileUpload,
 * TreeList, FileSymlink, FileMkdir, FileRemove, FileSetAttrs) are decoded
 * and validated in dry-run mode, so nothing is executed, listed or
 * written.  Responses are discarded. */
#include <stddef.h>
#include <stdint.h>

#include "tunnel/dispatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dispatcher d;
    dispatcher_init(&d, -1, -1);
    d.dry_run = true;
    d.quiet = true;
    dispatcher_feed(&d, data, size);
    dispatcher_run(&d);
    dispatcher_free(&d);
    return 0;
}
