/* fuzz_import.c - loading a Hugging Face export (eval / generate): one input
 * split at the first \x01 into config.json and model.safetensors.  It loads
 * or is refused with one clear line, never crashing or over-reading. */
#include "../src/ckpt/import.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[2];
    size_t len[2];
    fuzz_split(data, size, 2, part, len); /* no \x01: an empty safetensors */
    const char *dir = fuzz_dir("import");
    char path[300], err[1400] = "";
    snprintf(path, sizeof path, "%s/config.json", dir);
    fuzz_put(path, part[0], len[0]);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    fuzz_put(path, part[1], len[1]);
    model *m = import_hf(dir, 0, 0, err, sizeof err);
    if (!m) {
        fuzz_check_error(err);
        return 0;
    }
    model_free(m);
    return 0;
}
