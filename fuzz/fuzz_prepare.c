/* fuzz_prepare.c - `wesar prepare`'s readers: the input's first byte picks a
 * file name (0: in.txt, 1: in.txt split at blank-title-blank boundaries as
 * the Wikipedia sample is, else in.jsonl), the rest is the file, read through
 * the codec detector (seeds include xz, gzip and zstd data), the JSON lines parser and the
 * block cutter.  It is prepared or refused with one clear line; prepared
 * shards must open and hold only byte-tokenizer ids. */
#include "../src/data/prepare.h"
#include "../src/data/shard.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *dir = fuzz_dir("prepare");
    char in[300], out[300], path[400], err[1400] = "";
    snprintf(in, sizeof in, "%s/in.%s", dir, data[0] > 1 ? "jsonl" : "txt");
    snprintf(out, sizeof out, "%s/out", dir);
    fuzz_put(in, data + 1, size - 1);
    prepare_opts o = {"bytes", NULL, 0.25, 1024, 1, data[0] == 1 ? "\n\n(?=[^\n]+\n\n)" : NULL};
    const char *ins[1] = {in};
    if (prepare_text(ins, 1, out, &o, err, sizeof err)) {
        fuzz_check_error(err);
        return 0;
    }
    dataset d;
    snprintf(path, sizeof path, "%s", out);
    if (dataset_open(&d, path, "train", 257, err, sizeof err)) abort();
    dataset_close(&d);
    if (dataset_open(&d, path, "val", 257, err, sizeof err)) abort();
    dataset_close(&d);
    return 0;
}
