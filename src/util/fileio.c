/* fileio.c - atomic file output, CRC-32, directories. */
#define _GNU_SOURCE
#include "fileio.h"
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int atomic_open(atomic_file *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%d", path, (int)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        snprintf(err, errlen, "%s: cannot create: %s", a->tmp, strerror(errno));
        return -1;
    }
    return 0;
}

int atomic_write(atomic_file *a, const void *buf, size_t n) {
    if (!a->f) return -1;
    if (a->error) return -1;
    if (n && fwrite(buf, 1, n, a->f) != n) {
        a->error = errno ? errno : EIO;
        return -1;
    }
    a->crc = crc32_update(a->crc, buf, n);
    return 0;
}

int atomic_commit(atomic_file *a, int rc, char *err, size_t errlen) {
    if (!a->f) return -1;
    int bad = rc != 0;
    if (!bad && (fflush(a->f) || fsync(fileno(a->f)))) {
        a->error = errno;
        bad = 1;
    }
    if (bad) {
        int e = a->error;
        snprintf(err, errlen, "%s: write failed: %s%s", a->path, e ? strerror(e) : "error",
                 e == ENOSPC || e == EFBIG || e == EDQUOT ? " (disk full or file size limit)" : "");
    }
    if (fclose(a->f) && !bad) {
        snprintf(err, errlen, "%s: close failed: %s", a->path, strerror(errno));
        bad = 1;
    }
    a->f = NULL;
    if (bad) { unlink(a->tmp); return -1; }
    if (rename(a->tmp, a->path)) {
        snprintf(err, errlen, "%s: rename failed: %s", a->path, strerror(errno));
        unlink(a->tmp);
        return -1;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", a->path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    return 0;
}

uint32_t crc32_update(uint32_t crc, const void *buf, size_t n) {
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

int atomic_cleanup(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t) continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (*end || pid <= 0 || pid == getpid()) continue;
        if (!kill((pid_t)pid, 0) || errno != ESRCH) continue; /* its writer still runs */
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (!unlink(p)) n++;
    }
    closedir(d);
    return n;
}

void err_printable(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 32 || *s == 127) *s = '?';
}

int make_dir(const char *path, char *err, size_t errlen) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST) break;
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: exists and is not a directory", path);
        return -1;
    }
    return 0;
}

char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || (size_t)n > max) {
        fclose(f);
        snprintf(err, errlen, "%s: expected a file under %zu KiB", path, max >> 10);
        return NULL;
    }
    char *text = malloc((size_t)n + 1);
    size_t got = text ? fread(text, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!text || got != (size_t)n) {
        free(text);
        snprintf(err, errlen, "%s: read failed", path);
        return NULL;
    }
    text[n] = 0;
    if (len) *len = (size_t)n;
    /* without len the caller reads a C string: a NUL inside would silently
     * cut the file short (a config of random bytes loaded as empty) */
    else if (strlen(text) != (size_t)n) {
        snprintf(err, errlen, "%s: byte %zu is NUL: expected a text file", path, strlen(text));
        free(text);
        return NULL;
    }
    return text;
}
