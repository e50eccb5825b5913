/* spike.h - loss-spike detection over a sliding window.
 *
 * A step is a spike when its loss exceeds the trend of the last `window`
 * non-spike losses (a least-squares line, extrapolated one step) by more than
 * k residual standard deviations, once at least SPIKE_MIN_HISTORY losses are
 * in.  The line, not the plain mean, so that the early steep descent neither
 * hides spikes behind a large spread nor counts as one.  Spiking losses stay
 * out of the window, so a long spike cannot teach the detector that it is
 * normal; after `window` spiking steps in a row the level is taken as the new
 * normal and the window restarts.  Consecutive spiking steps are one spike
 * event.  The state is plain data that round-trips through JSON, so a resumed
 * run detects exactly what an uninterrupted one would.
 */
#ifndef WESAR_SPIKE_H
#define WESAR_SPIKE_H
#include <stddef.h>

#define SPIKE_MAX_WINDOW 1000
#define SPIKE_MIN_HISTORY 20

typedef struct {
    int window;       /* losses remembered */
    double k;         /* threshold in standard deviations */
    double hist[SPIKE_MAX_WINDOW];
    int n, head;      /* losses held, next slot */
    int run;          /* spiking steps in a row */
    long events;      /* spike events so far */
    double mean, std; /* expected loss and residual std, as of the last observe() */
} spike_detector;

void spike_init(spike_detector *d, int window, double k);
/* Feeds one step's loss; returns 1 if it is a spike (a non-finite loss is one). */
int spike_observe(spike_detector *d, double loss);
/* JSON object with the whole state; returns the length written (snprintf). */
int spike_to_json(const spike_detector *d, char *buf, size_t len);
/* 0 on success; -1 if text is not a state that spike_to_json wrote */
int spike_from_json(spike_detector *d, const char *text);
/* the same from an already parsed cJSON object (numbers keep every bit) */
struct cJSON;
int spike_from_json_item(spike_detector *d, const struct cJSON *item);
#endif
