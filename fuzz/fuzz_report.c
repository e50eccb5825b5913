/* fuzz_report.c - `wesar report`'s readers: a run directory's config.json,
 * log.jsonl and telemetry.jsonl, taken from one input split at \x01 bytes.
 * Any input gives a page or one clear error line. */
#include "../src/report/report.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *names[3] = {"config.json", "log.jsonl", "telemetry.jsonl"};
    const char *dir = fuzz_dir("report");
    const uint8_t *part[3];
    size_t len[3];
    int n = fuzz_split(data, size, 3, part, len);
    for (int k = 0; k < 3; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        if (k < n) fuzz_put(path, part[k], len[k]);
        else unlink(path); /* fewer parts: no such file */
    }
    char out[300];
    snprintf(out, sizeof out, "%s/report.html", dir);
    char err[1400] = "";
    const char *dirs[1] = {dir};
    if (report_write(dirs, 1, out, err, sizeof err)) fuzz_check_error(err);
    return 0;
}
