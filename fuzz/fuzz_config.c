/* fuzz_config.c - config files (JSON object or key=value lines) with model
 * and training keys, then the constraint check. */
#include "../src/model/config.h"
#include "../src/model/model.h"
#include "../src/train/train.h"
#include "fuzz_common.h"

static int other(void *ctx, const char *key, const char *value, char *err, size_t n) {
    return train_set(ctx, key, value, err, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    model_config c;
    train_config t;
    char err[1024] = "";
    if (config_preset(&c, "tiny", err, sizeof err)) abort();
    train_defaults(&t, "tiny");
    if (config_load_text(&c, text, "fuzz.conf", other, &t, err, sizeof err) ||
        config_finish(&c, err, sizeof err)) {
        fuzz_check_error(err);
    } else {
        char js[1024], tj[4096];
        config_to_json(&c, js, sizeof js);
        train_to_json(&t, tj, sizeof tj);
        model *m = model_create(&c, err, sizeof err); /* tensor table only: no big allocation */
        model_free(m);
    }
    free(text);
    return 0;
}
