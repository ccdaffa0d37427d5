/* The global counters and their printout. */
#include "base/stats.h"

struct stats stats;

void stats__print(FILE *f)
{
#define X(name, desc) fprintf(f, "  %-18s %12llu  %s\n", #name, (unsigned long long)stats.name, desc);
	STATS_FIELDS(X)
#undef X
}
