/* fuzz_sweep.c - a sweep file (key = value lines: out, base, grid.KEY, seeds,
 * ...) \x01 a sweep.json, each parsed and, when accepted, built into the
 * grid's points and their training jobs (nothing runs). */
#include "../src/sweep/points.h"
#include "../src/sweep/sweep.h"
#include "fuzz_common.h"

static void build(const sweep_spec *s) {
    point_list pl;
    char err[2048] = "";
    if (points_build(s, &pl, err, sizeof err)) fuzz_check_error(err);
    else points_free(&pl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[2];
    size_t len[2];
    fuzz_split(data, size, 2, part, len);
    const char *dir = fuzz_dir("sweep");
    char file[300], json[300], err[2048] = "";
    snprintf(file, sizeof file, "%s/sweep.conf", dir);
    snprintf(json, sizeof json, "%s/sweep.json", dir);
    fuzz_put(file, part[0], len[0]);
    fuzz_put(json, part[1], len[1]);
    sweep_spec s;
    char *argv[] = {"--file", file, "--out", (char *)dir};
    if (sweep_parse(&s, 4, argv, err, sizeof err)) fuzz_check_error(err);
    else build(&s);
    sweep_free(&s);
    err[0] = 0;
    if (sweep_load(&s, dir, err, sizeof err)) fuzz_check_error(err);
    else {
        build(&s);
        sweep_free(&s);
    }
    return 0;
}
