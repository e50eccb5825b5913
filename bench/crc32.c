/* bench/crc32.c - the checkpoint checksum: the byte-table CRC-32 wesar had
 * (kept here) against zlib's crc32(), which util/fileio.c now calls, on the
 * same 256 MiB, in interleaved rounds; both must give the same value (the
 * checkpoint format must not change).
 * usage: build/release/crc32_bench [ROUNDS]   (5) */
#include "util/fileio.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

/* the loop util/fileio.c had before it called zlib */
static uint32_t table_crc(uint32_t crc, const unsigned char *p, size_t n) {
    static uint32_t table[256];
    for (uint32_t i = 0; i < 256 && !table[255]; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > 100) rounds = 5;
    size_t n = (size_t)256 << 20;
    unsigned char *buf = malloc(n);
    if (!buf) return 1;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) x ^= x << 13, x ^= x >> 7, x ^= x << 17, buf[i] = (unsigned char)x;
    double own[100], zl[100];
    uint32_t a = 0, b = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        a = table_crc(0, buf, n);
        double t1 = now();
        b = crc32_update(0, buf, n); /* zlib, in 1 GiB pieces */
        double t2 = now();
        own[r] = n / (t1 - t0) / 1e9, zl[r] = n / (t2 - t1) / 1e9;
    }
    qsort(own, (size_t)rounds, sizeof *own, cmp);
    qsort(zl, (size_t)rounds, sizeof *zl, cmp);
    printf("CRC-32 of 256 MiB, %d interleaved rounds: byte table %.2f GB/s (%.2f..%.2f), zlib %.2f GB/s (%.2f..%.2f); "
           "values %08x %08x %s\n", rounds, own[rounds / 2], own[0], own[rounds - 1], zl[rounds / 2], zl[0],
           zl[rounds - 1], a, b, a == b ? "equal" : "DIFFER");
    free(buf);
    return a != b;
}
