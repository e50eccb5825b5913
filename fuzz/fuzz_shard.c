/* fuzz_shard.c - llm.c token shards: header, size and token-id validation. */
#include "../src/data/shard.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, "_train.bin");
    char err[1024] = "";
    for (int vocab = 0; vocab <= 257; vocab += 257) {
        shard s;
        if (shard_open(&s, path, vocab, err, sizeof err)) {
            fuzz_check_error(err);
            continue;
        }
        uint64_t sum = 0; /* every token must be readable and, with a vocab, in range */
        for (size_t i = 0; i < s.n_tokens; i++) {
            uint32_t t = shard_token(&s, i);
            if (vocab && t >= (uint32_t)vocab) abort();
            sum += t;
        }
        (void)sum;
        shard_close(&s);
    }
    /* the same file as a dataset, sampled */
    dataset d;
    if (!dataset_open(&d, path, "train", 257, err, sizeof err)) {
        int32_t inp[2 * 8], tgt[2 * 8];
        rng_t r;
        rng_seed(&r, 1, 2);
        if (d.n_tokens > 9) dataset_sample(&d, &r, 2, 8, inp, tgt);
        for (size_t i = 0; dataset_sequential(&d, i, 2, 8, inp, tgt) && i < 4; i++) {}
        dataset_close(&d);
    }
    unlink(path);
    return 0;
}
