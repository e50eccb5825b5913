/* fuzz_report.c - `wesar report`'s readers: a run directory's config.json,
 * log.jsonl and telemetry.jsonl, taken from one input split at \x01 bytes.
 * Any input gives a page or one clear error line. */
#include "../src/report/report.h"
#include "fuzz_common.h"
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[256], out[300];
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(dir, sizeof dir, "%s/wesar_fuzz_report_%d", tmp, (int)getpid());
        mkdir(dir, 0700);
        snprintf(out, sizeof out, "%s/report.html", dir);
    }
    static const char *names[3] = {"config.json", "log.jsonl", "telemetry.jsonl"};
    const uint8_t *p = data, *end = data + size;
    for (int k = 0; k < 3; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        if (!p) { unlink(path); continue; } /* fewer parts: no such file */
        const uint8_t *sep = memchr(p, 1, (size_t)(end - p));
        fuzz_put(path, p, (size_t)((sep ? sep : end) - p));
        p = sep ? sep + 1 : NULL;
    }
    char err[1400] = "";
    const char *dirs[1] = {dir};
    if (report_write(dirs, 1, out, err, sizeof err)) fuzz_check_error(err);
    return 0;
}
