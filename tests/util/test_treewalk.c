/* SPDX-License-Identifier: MIT */
/* treewalk: order, links never followed, a stop from the callback, the
 * failing path; treewalk_mkdirs and treewalk_replace_symlink; and
 * digest_sha512_fd against a known digest. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "util/digest.h"
#include "util/treewalk.h"
#include "util/xmalloc.h"

struct seen {
    char text[1024];
    int stop_after;
    int count;
};

static int record(void *ctx, const struct treewalk_entry *e)
{
    struct seen *s = ctx;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof s->text - n, "%s:%s%s%s ", e->path,
             treewalk_type_name(e->st->st_mode), e->link_target ? ">" : "",
             e->link_target ? e->link_target : "");
    return ++s->count == s->stop_after ? 7 : 0;
}

static void touch(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    free(p);
}

int main(void)
{
    char root[] = "/tmp/conduit-treewalk-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    char *deep = xasprintf("%s/b/c/d", root);
    CHECK(treewalk_mkdirs(deep, 0751) == 0);
    CHECK(treewalk_mkdirs(deep, 0751) == 0); /* there already: fine */
    struct stat st;
    CHECK(stat(deep, &st) == 0 && (st.st_mode & 07777) == 0751);
    touch(root, "a");
    touch(root, "b/z");
    touch(root, "b-c");
    char *link = xasprintf("%s/b/out", root);
    CHECK(treewalk_replace_symlink(link, "/etc") == 0);
    CHECK(treewalk_replace_symlink(link, "../a") == 0); /* replaced */
    char target[64] = {0};
    CHECK(readlink(link, target, sizeof target - 1) == 4 && strcmp(target, "../a") == 0);
    char *file_a = xasprintf("%s/a", root);
    CHECK(treewalk_mkdirs(file_a, 0755) < 0 && errno == ENOTDIR);
    char *dir_b = xasprintf("%s/b", root);
    CHECK(treewalk_replace_symlink(dir_b, "x") == EISDIR);

    struct seen s = {.stop_after = -1};
    char *failed = NULL;
    CHECK(treewalk_run(root, record, &s, &failed) == 0 && failed == NULL);
    /* Parents first, names in byte order in each directory, the link not
     * followed. */
    CHECK_STR(s.text, "a:file b:dir b/c:dir b/c/d:dir b/out:link>../a b/z:file b-c:file ");
    struct seen stop = {.stop_after = 2};
    CHECK(treewalk_run(root, record, &stop, NULL) == 7 && stop.count == 2);
    char *missing = xasprintf("%s/missing", root);
    CHECK(treewalk_run(missing, record, &s, &failed) == -1 && errno == ENOENT);
    CHECK_STR(failed, "");
    free(failed);

    /* SHA-512 of "abc" (FIPS 180-2), read from the file's offset on. */
    int fd = open(file_a, O_RDWR | O_TRUNC);
    CHECK(fd >= 0 && write(fd, "xabc", 4) == 4 && lseek(fd, 1, SEEK_SET) == 1);
    uint8_t digest[DIGEST_SHA512_SIZE];
    CHECK(digest_sha512_fd(fd, digest) == 0);
    CHECK(digest[0] == 0xdd && digest[1] == 0xaf && digest[63] == 0x9f);
    close(fd);

    char *cmd = xasprintf("rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    free(cmd);
    free(deep);
    free(link);
    free(file_a);
    free(dir_b);
    free(missing);
    return check_done("treewalk");
}
