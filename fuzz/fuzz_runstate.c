/* fuzz_runstate.c - the spike detector's state as read back from a
 * checkpoint's "run" object; what it accepts must work and round-trip. */
#include "../src/train/spike.h"
#include "fuzz_common.h"
#include <math.h>

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
    free(text);
    return 0;
}
