/* fuzz_runstate.c - the loop's state as read back from a checkpoint's "run"
 * object: the spike detector's and the telemetry's spike attribution; what
 * they accept must work and round-trip. */
#include "../src/model/model.h"
#include "../src/train/spike.h"
#include "../src/train/telemetry.h"
#include "fuzz_common.h"
#include <cjson/cJSON.h>
#include <math.h>

/* a one-layer model's telemetry: 8 matrices */
static telemetry *tel(void) {
    static telemetry *t;
    if (t) return t;
    model_config c = {.vocab_size = 8, .d_model = 4, .n_layers = 1, .n_heads = 1, .seq_len = 2,
                      .rope_theta = 10000, .norm_eps = 1e-5};
    char err[256];
    model *m = model_create(&c, err, sizeof err);
    if (!m || model_alloc(m, 1, 2, err, sizeof err) || !(t = telemetry_create(m, 2, err, sizeof err)))
        abort();
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    spike_detector d;
    if (!spike_from_json(&d, text)) {
        static char a[65536], b[65536];
        spike_to_json(&d, a, sizeof a);
        spike_detector e;
        if (spike_from_json(&e, a)) abort();
        spike_to_json(&e, b, sizeof b);
        if (strcmp(a, b)) abort();
        spike_observe(&d, 1.0);
        spike_observe(&d, NAN);
    }
    /* the attribution state: accepted or reset, never out of bounds */
    cJSON *j = cJSON_Parse(text);
    telemetry *t = tel();
    telemetry_state_from_json(t, j);
    cJSON_Delete(j);
    int which[4];
    double f[4];
    int n = telemetry_jumped(t, 2.0, 4, which, f);
    if (n < 0 || n > telemetry_count(t)) abort();
    size_t len = telemetry_state_len(t);
    char *a = malloc(len), *b = malloc(len);
    if (telemetry_state_to_json(t, a, len)) abort();
    j = cJSON_Parse(a);
    telemetry_state_from_json(t, j);
    cJSON_Delete(j);
    if (telemetry_state_to_json(t, b, len) || strcmp(a, b)) abort();
    free(a);
    free(b);
    free(text);
    return 0;
}
