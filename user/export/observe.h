/* The views of the spans as a whole: the latency profile (printed at exit
 * and on SIGUSR1), the live view and the Prometheus endpoint, set up from
 * the command line and driven from the event loop. */
#ifndef SPANTAP_OBSERVE_H
#define SPANTAP_OBSERVE_H

#include "emit/top.h"

#include <stdint.h>

struct observe_opts {
	int summary;		    /* print the profile at exit */
	int json;		    /* ... as one JSON document */
	int top;		    /* the live view on stdout */
	enum top_sort sort;	    /* its first sort key */
	const char *metrics_listen; /* ADDR:PORT or NULL */
	uint32_t max_series;
	void (*refresh)(void); /* brings the kernel's counters into stats */
};

/* Registers the profile sink, starts the server and the view; 0 or -errno
 * (with one line on stderr). */
int observe__setup(const struct observe_opts *o);
/* Every pass of the event loop; 1 when the user quit the live view. */
int observe__tick(uint64_t mono_ns);
/* Before the sinks are destroyed: the view closed, the profile printed. */
void observe__finish(void);

#endif
