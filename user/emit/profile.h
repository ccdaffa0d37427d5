/* The latency profile: a sink that counts every finished span into a series
 * per (service, side, operation, status, error type, peer), each with a
 * log-linear histogram (base/hist.h) of fixed size. Series are bounded
 * (--limit series=N); once full, spans go to one overflow series per side
 * and protocol, counted in stats.profile_overflow. For the live view each
 * series can also keep the last 10 s in five 2-second slots.
 *
 * Read by the exit/SIGUSR1 table (here), the live view (top.h) and the
 * Prometheus exposition (export/metrics.h), all on the main thread. */
#ifndef SPANTAP_PROFILE_H
#define SPANTAP_PROFILE_H

#include "base/hist.h"
#include "base/procinfo.h"
#include "span/route.h"

#include <stdint.h>
#include <stdio.h>

#define PROFILE_DEFAULT_SERIES 1024
#define PROFILE_SLOTS 5
#define PROFILE_SLOT_NS 2000000000ULL
#define PROFILE_WINDOW_NS (PROFILE_SLOTS * PROFILE_SLOT_NS)

enum prof_proto { PROF_HTTP = 1, PROF_REDIS = 2 };

struct prof_key {
	uint8_t kind; /* SPAN_KIND_SERVER or SPAN_KIND_CLIENT */
	uint8_t proto;
	uint8_t overflow; /* the series of spans that found the table full */
	uint8_t pad;
	uint16_t status; /* HTTP status; 0 none */
	uint16_t port;	 /* client: the server's port */
	char service[PROCINFO_SERVICE_MAX];
	char method[32];       /* HTTP method or Redis command */
	char route[ROUTE_MAX]; /* HTTP route; Redis: the database index */
	char peer[64];	       /* client: server.address */
	char error[32];	       /* error.type, "" when the span succeeded */
};

struct prof_slot {
	uint64_t epoch; /* wall ns / PROFILE_SLOT_NS of its values */
	uint64_t errors;
	struct hist32 h;
};

struct prof_series {
	struct prof_key k;
	uint64_t hash;
	uint64_t errors;
	struct hist h;
	struct prof_slot *slots; /* PROFILE_SLOTS of them, with the live view */
};

/* One line of the table: the series of one service, side and operation. */
struct prof_row {
	const struct prof_key *k; /* of its first series */
	char op[sizeof(((struct prof_key *)0)->method) + ROUTE_MAX + 1];
	uint64_t count, errors, sum_ns;
	uint64_t p50, p90, p99, max; /* ns */
	double rate;		     /* per second */
};

struct sink;

/* The sink; windows: keep the last 10 s per series too (the live view). */
struct sink *profile__new(uint32_t max_series, int windows);
/* series in creation order, for readers; NULL past the end */
uint32_t profile__nseries(void);
const struct prof_series *profile__series(uint32_t i);
/* The rows, grouped and sorted by service, side, operation; window: over
 * the last 10 s (at wall time now_ns), else since the start. Returns how
 * many (at most max), or -ENOMEM. */
int profile__rows(struct prof_row *rows, int max, int window, uint64_t now_ns);
/* The table on f (text), or as one JSON document {"profile":{...}}. */
void profile__print(FILE *f, int json, uint64_t now_ns);
/* Wall ns of the profile's start. */
uint64_t profile__start(void);

/* "12.3ms": three significant digits, unit chosen by size */
void profile__fmt_ns(char *out, size_t outlen, uint64_t ns);

#endif
