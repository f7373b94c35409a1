/* SPDX-License-Identifier: MIT */
/* Shared between the dispatcher's request loop and its handlers. */
#ifndef CONDUIT_TUNNEL_DISPATCH_INTERNAL_H
#define CONDUIT_TUNNEL_DISPATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tunnel/codec.h"
#include "tunnel/dispatch.h"

/* What a handler tells the loop. */
enum handler_result {
    HANDLED = 0, /* a response is queued; go on */
    FATAL = 1,   /* the stream is broken; the message was already logged */
};

/* A request handler for a fully decoded packet.  The Upload handler is
 * special (its content is streamed) and has its own entry point. */
typedef enum handler_result (*dispatch_handler)(struct dispatcher *d, void *pkt);

/* ---- responses (dispatch.c) ---- */
void dispatch_reply(struct dispatcher *d, uint32_t id, const void *pkt);
void dispatch_reply_empty(struct dispatcher *d, uint32_t id);
/* InvalidField{field, message}. */
void dispatch_reply_invalid(struct dispatcher *d, const char *field, const char *message);
/* OSError{err, strerror, "[Errno N] strerror: 'name'"}; name may be absent. */
void dispatch_reply_os_error(struct dispatcher *d, int err, struct tun_bytes name);
/* InvalidField{field, "[Errno N] strerror: 'name'"} (how missing paths are
 * reported). */
void dispatch_reply_invalid_os(struct dispatcher *d, const char *field, int err,
                               struct tun_bytes name);

/* ---- the stream (dispatch.c) ---- */
/* Write all queued responses.  False when the output is broken (logged). */
bool dispatch_flush(struct dispatcher *d);
/* Make at least `need` bytes available in d->in.  0 on success, -1 at end of
 * input (nothing logged). */
int dispatch_fill(struct dispatcher *d, size_t need);
/* Make at least `need` bytes available in d->in.  Returns true, or false
 * at the end of input after the "Unexpected EOF" message. */
bool dispatch_need(struct dispatcher *d, size_t need);
/* Decode fields [from, to) of desc from the start of d->in, reading as
 * needed; the values point into d->in, whose first *used bytes they take.
 * Returns true, or false after the message saying why (a length that can
 * never fit, the end of input). */
bool dispatch_decode(struct dispatcher *d, const struct tun_packet_desc *desc, unsigned from,
                     unsigned to, void *pkt, size_t *used);
/* Log the one-line "... Aborting." message (unless quiet). */
void dispatch_abort_msg(struct dispatcher *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- handlers ---- */
enum handler_result dispatch_handle_process_run(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_stat(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_resolve_user(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_resolve_group(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_download(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_query_user(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_query_group(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_getenv(struct dispatcher *d, void *pkt);
/* Reads an Upload or FileUpload packet (id) after its id from the stream
 * itself. */
enum handler_result dispatch_handle_upload_stream(struct dispatcher *d, uint32_t id);
/* files/1 (dispatch_files.c). */
enum handler_result dispatch_handle_tree_list(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_file_symlink(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_file_mkdir(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_file_remove(struct dispatcher *d, void *pkt);
enum handler_result dispatch_handle_file_set_attrs(struct dispatcher *d, void *pkt);
/* Directories made without a mode (FileMkdir, FileUpload's parents): as
 * install -d, whatever the dispatcher's umask (077). */
#define DISPATCH_DIR_MODE 0755

/* An octal mode field (InvalidField queued and false when it is not one). */
bool dispatch_parse_mode(struct dispatcher *d, const char *field, struct tun_bytes v,
                         mode_t *mode);

/* A field that is a path or a name must not hold a NUL byte: false (and an
 * InvalidField queued) when it does. */
bool dispatch_check_no_nul(struct dispatcher *d, const char *field, struct tun_bytes v);

#endif
