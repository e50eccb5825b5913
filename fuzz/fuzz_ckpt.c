/* fuzz_ckpt.c - checkpoints: header JSON, sizes, config, checksum, load.
 * The first input byte picks whether the checksum is fixed up before
 * reading (so the fuzzer gets past it into the header and the body) or left
 * as given. */
#include "../src/ckpt/ckpt.h"
#include "../src/util/fileio.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int fix = data[0] & 1;
    data++, size--;
    uint8_t *buf = malloc(size + 1);
    memcpy(buf, data, size);
    if (fix && size >= 4) {
        uint32_t crc = crc32_update(0, buf, size - 4);
        memcpy(buf + size - 4, &crc, 4);
    }
    const char *path = fuzz_file(buf, size, ".ckpt");
    free(buf);
    char err[1400] = "", tj[4096];
    model_config cfg;
    if (ckpt_verify(path, err, sizeof err)) fuzz_check_error(err);
    if (ckpt_read_config(path, &cfg, tj, sizeof tj, err, sizeof err)) {
        fuzz_check_error(err);
    } else {
        model *m = model_create(&cfg, err, sizeof err);
        if (m && !model_alloc(m, 0, 1, err, sizeof err)) {
            ckpt_extra *x = malloc(sizeof *x);
            if (ckpt_load(path, m, x, err, sizeof err)) fuzz_check_error(err);
            ckpt_extra_free(x);
            free(x);
        }
        model_free(m);
    }
    unlink(path);
    return 0;
}
