/* tensorfile.h - a tiny named-tensor file for exchanging test data with the
 * PyTorch reference (tests/ref/tensorfile.py reads it):
 *   "WSRT" | u32 count | per tensor: u32 name_len, name, u32 dtype (0 f32,
 *   1 i32, 2 f64), u32 ndim, i64 dims[ndim], data  (little-endian). */
#ifndef WESAR_TEST_TENSORFILE_H
#define WESAR_TEST_TENSORFILE_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct { FILE *f; uint32_t count; } tfile;

static inline int tf_open(tfile *t, const char *path) {
    t->f = fopen(path, "wb");
    t->count = 0;
    if (!t->f) return -1;
    fwrite("WSRT", 1, 4, t->f);
    fwrite(&t->count, 4, 1, t->f); /* patched on close */
    return 0;
}

static inline void tf_put(tfile *t, const char *name, uint32_t dtype, int ndim, const int64_t *dims,
                          const void *data) {
    uint32_t nl = (uint32_t)strlen(name), nd = (uint32_t)ndim;
    size_t n = 1, es = dtype == 2 ? 8 : 4;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    fwrite(&nl, 4, 1, t->f);
    fwrite(name, 1, nl, t->f);
    fwrite(&dtype, 4, 1, t->f);
    fwrite(&nd, 4, 1, t->f);
    fwrite(dims, 8, nd, t->f);
    fwrite(data, es, n, t->f);
    t->count++;
}

static inline void tf_put_f32(tfile *t, const char *name, int ndim, const int64_t *dims,
                              const float *x) { tf_put(t, name, 0, ndim, dims, x); }

static inline int tf_close(tfile *t) {
    fseek(t->f, 4, SEEK_SET);
    fwrite(&t->count, 4, 1, t->f);
    return fclose(t->f);
}
#endif
