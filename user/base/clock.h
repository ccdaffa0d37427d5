/* Clocks: CLOCK_MONOTONIC ns (BPF's clock, in every event) and the wall
 * clock spans are exported in. */
#ifndef SPANTAP_CLOCK_H
#define SPANTAP_CLOCK_H

#include <stdint.h>

/* Samples realtime - monotonic; call again to follow NTP's adjustments. */
void clock__sync(void);
/* CLOCK_MONOTONIC ns -> ns since the epoch */
uint64_t clock__to_wall(uint64_t mono_ns);
uint64_t clock__mono_now(void);

#endif
