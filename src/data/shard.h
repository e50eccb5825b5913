/* shard.h - token shards in llm.c's format, and datasets made of them.
 *
 * A shard is a 256 x int32 header (magic 20240520, version, token count, rest
 * zero) followed by the tokens: version 1 = uint16, version 2 = uint32 (for
 * vocabularies above 65535).  Shards are memory-mapped and validated on open:
 * size, header and (with a vocabulary size) every token id.
 */
#ifndef WESAR_SHARD_H
#define WESAR_SHARD_H
#include "../util/rng.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SHARD_MAGIC 20240520
#define SHARD_HEADER_INTS 256

typedef struct {
    char path[1024];
    int version;          /* 1: uint16 tokens, 2: uint32 tokens */
    size_t n_tokens;
    void *map;
    size_t map_len;
    const void *tokens;
} shard;

/* vocab_size > 0 also checks that every token id is < vocab_size. */
int shard_open(shard *s, const char *path, int vocab_size, char *err, size_t errlen);
void shard_close(shard *s);
static inline uint32_t shard_token(const shard *s, size_t i) {
    return s->version == 1 ? ((const uint16_t *)s->tokens)[i] : ((const uint32_t *)s->tokens)[i];
}
/* Writes tokens atomically (temporary file, fsync, rename).  The version is
 * chosen from max_token: uint16 when it fits. */
int shard_write(const char *path, const uint32_t *tok, size_t n, uint32_t max_token,
                char *err, size_t errlen);
/* the same, with the next n uint32 ids read from src (a spill file) */
int shard_write_from(const char *path, FILE *src, size_t n, uint32_t max_token, char *err, size_t errlen);

typedef struct {
    shard *shards;
    int n_shards;
    size_t n_tokens;
} dataset;

/* pattern: a shard file, a glob ("dir/x_train_?.bin"), or a directory plus a
 * split name ("train" / "val": files in it whose name contains the split and
 * ends in .bin), in sorted order. */
int dataset_open(dataset *d, const char *pattern, const char *split, int vocab_size,
                 char *err, size_t errlen);
void dataset_close(dataset *d);
/* B random windows of T+1 tokens (input + shifted target), each inside one
 * shard, drawn from r: the same seed gives the same batches. */
int dataset_sample(const dataset *d, rng_t *r, int B, int T, int32_t *inp, int32_t *tgt);
/* The same n draws, but only windows first..first+count-1 are read (into
 * inp/tgt[0..count*T)): a rank's slice of a global batch, with r advanced
 * as if all n were read. */
int dataset_sample_part(const dataset *d, rng_t *r, int n, int first, int count, int T, int32_t *inp,
                        int32_t *tgt);
/* The idx-th batch of consecutive non-overlapping windows; 0 if it does not
 * fit in the dataset, 1 if filled. */
int dataset_sequential(const dataset *d, size_t idx, int B, int T, int32_t *inp, int32_t *tgt);
/* number of whole batches dataset_sequential can give */
size_t dataset_num_sequential(const dataset *d, int B, int T);

#endif
