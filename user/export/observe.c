/* Wiring of the profile, the live view and the metrics endpoint
 * (observe.h): SIGUSR1, the once-a-second kernel counters, the order of
 * things at exit. */
#include "export/observe.h"

#include "base/clock.h"
#include "emit/profile.h"
#include "emit/sink.h"
#include "export/metrics.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static struct observe_opts opts;
static volatile sig_atomic_t usr1;
static uint64_t last_refresh;
static int ready, profiling;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

int observe__setup(const struct observe_opts *o)
{
	struct sink *s;
	int err;

	opts = *o;
	/* the profile costs every span a little: only when something reads it */
	profiling = o->summary || o->top || o->metrics_listen;
	if (profiling) {
		s = profile__new(o->max_series, o->top);
		if (!s || sink__add(s)) {
			fprintf(stderr, "spantap: failed to create the latency profile: %s\n", strerror(ENOMEM));
			return -ENOMEM;
		}
	}
	if (o->metrics_listen && (err = metrics__listen(o->metrics_listen)))
		return err;
	if (o->top && (err = top__start(stdout, o->sort, o->max_series))) {
		fprintf(stderr, "spantap: failed to start the live view: %s\n", strerror(-err));
		return err;
	}
	signal(SIGUSR1, on_usr1);
	ready = 1;
	return 0;
}

int observe__tick(uint64_t now)
{
	if (!ready)
		return 0;
	if (usr1) {
		usr1 = 0;
		if (!profiling)
			fprintf(stderr, "spantap: SIGUSR1: no latency profile is kept (run with --summary)\n");
		else if (!opts.top)
			profile__print(stdout, opts.json, clock__to_wall(now));
	}
	if ((opts.top || opts.metrics_listen) && now - last_refresh >= 1000000000ULL) {
		if (opts.refresh)
			opts.refresh();
		last_refresh = now;
	}
	metrics__poll(now);
	return opts.top ? top__tick(now) : 0;
}

void observe__finish(void)
{
	if (!ready)
		return;
	ready = 0;
	if (opts.top)
		top__stop();
	metrics__close();
	if (opts.summary)
		profile__print(stdout, opts.json, clock__to_wall(clock__mono_now()));
}
