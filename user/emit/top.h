/* The live view (`spantap top`, `--top`): the operations of the last 10 s
 * from the profile's windows (profile.h), redrawn every second. On a
 * terminal: full screen with ANSI escapes, keys sort (r rate, e errors,
 * 5 p50, 9 p99, n name) and q quits; otherwise a plain table a second. */
#ifndef SPANTAP_TOP_H
#define SPANTAP_TOP_H

#include <stdint.h>
#include <stdio.h>

enum top_sort { TOP_SORT_RATE, TOP_SORT_ERRORS, TOP_SORT_P50, TOP_SORT_P99, TOP_SORT_NAME };

/* "rate", "errors", "p50", "p99", "name": 0, or -EINVAL */
int top__parse_sort(const char *s, enum top_sort *out);
/* out: stdout; full screen when it and stdin are a terminal */
int top__start(FILE *out, enum top_sort sort, uint32_t max_series);
/* On every pass of the event loop: keys, and a frame a second. Returns 1
 * when the user quit. */
int top__tick(uint64_t mono_ns);
/* The terminal as it was. Safe to call twice, and without a start. */
void top__stop(void);

/* One frame into buf (cols x rows, no escapes), for tests and the plain
 * table; returns its length. */
size_t top__render(char *buf, size_t cap, int cols, int rows, uint64_t wall_ns);

#endif
