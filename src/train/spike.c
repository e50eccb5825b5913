/* spike.c - loss-spike detection (see spike.h). */
#include "spike.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void spike_init(spike_detector *d, int window, double k) {
    memset(d, 0, sizeof *d);
    d->window = window < SPIKE_MIN_HISTORY ? SPIKE_MIN_HISTORY
                : window > SPIKE_MAX_WINDOW ? SPIKE_MAX_WINDOW : window;
    d->k = k;
    d->mean = d->std = NAN;
}

/* Least-squares line through the window (oldest first), extrapolated one
 * step: a loss that is still falling fast must not pass for noise. */
static void window_stats(spike_detector *d) {
    int n = d->n, first = n < d->window ? 0 : d->head;
    d->mean = d->std = NAN;
    if (n < 3) return;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double y = d->hist[(first + i) % d->window];
        sx += i; sy += y; sxx += (double)i * i; sxy += i * y;
    }
    double b = (n * sxy - sx * sy) / (n * sxx - sx * sx), a = (sy - b * sx) / n, ss = 0;
    for (int i = 0; i < n; i++) {
        double r = d->hist[(first + i) % d->window] - (a + b * i);
        ss += r * r;
    }
    d->mean = a + b * n;
    d->std = sqrt(ss / (n - 2));
}

int spike_observe(spike_detector *d, double loss) {
    window_stats(d);
    int spike = !isfinite(loss) ||
                (d->n >= SPIKE_MIN_HISTORY && loss > d->mean + d->k * d->std);
    if (spike) {
        if (d->run++ == 0) d->events++;
        if (d->run >= d->window) d->n = d->head = d->run = 0; /* a new level, not a spike */
        return 1;
    }
    d->run = 0;
    d->hist[d->head] = loss;
    d->head = (d->head + 1) % d->window;
    if (d->n < d->window) d->n++;
    return 0;
}

int spike_to_json(const spike_detector *d, char *buf, size_t len) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "window", d->window);
    char num[32];
    snprintf(num, sizeof num, "%.17g", d->k);
    cJSON_AddRawToObject(j, "k", num);
    cJSON_AddNumberToObject(j, "n", d->n);
    cJSON_AddNumberToObject(j, "head", d->head);
    cJSON_AddNumberToObject(j, "run", d->run);
    cJSON_AddNumberToObject(j, "events", (double)d->events);
    /* %.17g reads back exactly (cJSON's own printing may round), so a resumed
     * run sees the very same window */
    cJSON *h = cJSON_AddArrayToObject(j, "hist");
    for (int i = 0; i < d->n; i++) {
        snprintf(num, sizeof num, "%.17g", d->hist[i]);
        cJSON_AddItemToArray(h, cJSON_CreateRaw(num));
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    int n = snprintf(buf, len, "%s", s ? s : "{}");
    free(s);
    return n;
}

static int get_int(cJSON *j, const char *k, int lo, int hi, int *out) {
    cJSON *v = cJSON_GetObjectItem(j, k);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) return -1;
    *out = (int)v->valuedouble;
    return 0;
}

int spike_from_json(spike_detector *d, const char *text) {
    cJSON *j = cJSON_Parse(text);
    int rc = spike_from_json_item(d, j);
    cJSON_Delete(j);
    return rc;
}

int spike_from_json_item(spike_detector *d, const struct cJSON *item) {
    cJSON *j = (cJSON *)item;
    spike_detector t;
    memset(&t, 0, sizeof t);
    int events = 0, rc = -1;
    cJSON *k = cJSON_GetObjectItem(j, "k"), *h = cJSON_GetObjectItem(j, "hist");
    if (cJSON_IsObject(j) && !get_int(j, "window", SPIKE_MIN_HISTORY, SPIKE_MAX_WINDOW, &t.window) &&
        !get_int(j, "n", 0, t.window, &t.n) && !get_int(j, "head", 0, t.window - 1, &t.head) &&
        !get_int(j, "run", 0, t.window, &t.run) && !get_int(j, "events", 0, 2000000000, &events) &&
        cJSON_IsNumber(k) && cJSON_IsArray(h) && cJSON_GetArraySize(h) == t.n) {
        rc = 0;
        int i = 0;
        for (cJSON *e = h->child; e; e = e->next, i++) {
            if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) rc = -1;
            else t.hist[i] = e->valuedouble;
        }
        /* only what observe() can produce: finite losses, a ring that fills from 0 */
        if (!isfinite(k->valuedouble) || k->valuedouble <= 0 || (t.n < t.window && t.head != t.n))
            rc = -1;
        t.k = k->valuedouble;
        t.events = events;
        t.mean = t.std = NAN;
    }
    if (!rc) *d = t;
    return rc;
}
