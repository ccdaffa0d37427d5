/* The live view (top.h): rows from profile__rows over the last 10 s,
 * sorted, drawn in place with a few ANSI escapes (no curses: 80x24 and a
 * redraw a second need no more). */
#include "emit/top.h"

#include "base/clock.h"
#include "base/stats.h"
#include "emit/profile.h"
#include "span/span.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static FILE *out;
static int tty, started, raw_on;
static struct termios saved;
static enum top_sort sort_key;
static uint32_t series_max;
static uint64_t last_frame;
static volatile sig_atomic_t resized;
static char *frame;
static size_t frame_cap;

static const char *const sort_names[] = {"rate", "errors", "p50", "p99", "name"};

int top__parse_sort(const char *s, enum top_sort *o)
{
	for (int i = 0; i <= TOP_SORT_NAME; i++)
		if (strcmp(s, sort_names[i]) == 0) {
			*o = (enum top_sort)i;
			return 0;
		}
	return -EINVAL;
}

static double err_pct(const struct prof_row *r)
{
	return r->count ? 100.0 * (double)r->errors / (double)r->count : 0;
}

static int row_cmp(const void *x, const void *y)
{
	const struct prof_row *a = x, *b = y;
	double da = 0, db = 0;
	int c;

	switch (sort_key) {
	case TOP_SORT_RATE:
		da = a->rate, db = b->rate;
		break;
	case TOP_SORT_ERRORS:
		da = err_pct(a), db = err_pct(b);
		break;
	case TOP_SORT_P50:
		da = (double)a->p50, db = (double)b->p50;
		break;
	case TOP_SORT_P99:
		da = (double)a->p99, db = (double)b->p99;
		break;
	case TOP_SORT_NAME:
		break;
	}
	if (da != db)
		return da < db ? 1 : -1;
	/* ties, and the name sort: service, operation, side */
	if ((c = strcmp(a->k->service, b->k->service)))
		return c;
	if ((c = strcmp(a->op, b->op)))
		return c;
	return a->k->kind - b->k->kind;
}

/* appends at most cols characters of a formatted line, and a newline */
static size_t line(char *buf, size_t cap, size_t o, int cols, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static size_t line(char *buf, size_t cap, size_t o, int cols, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > cols)
		n = cols;
	if ((size_t)n > sizeof(tmp) - 1)
		n = (int)sizeof(tmp) - 1;
	/* no trailing blanks: the terminal's own erase clears the rest */
	while (n > 0 && tmp[n - 1] == ' ')
		n--;
	if (o + (size_t)n + 2 > cap)
		return o;
	memcpy(buf + o, tmp, (size_t)n);
	o += (size_t)n;
	buf[o++] = '\n';
	buf[o] = 0;
	return o;
}

size_t top__render(char *buf, size_t cap, int cols, int rows, uint64_t wall_ns)
{
	uint32_t ns = profile__nseries();
	struct prof_row *r = calloc(ns + 1, sizeof(*r));
	int n = r ? profile__rows(r, (int)ns, 1, wall_ns) : -ENOMEM;
	int opw = cols - 54, shown;
	double total = 0;
	uint64_t drops = stats.conns_evicted + stats.pending_full + stats.reasm_full + stats.kernel_conn_full +
			 stats.link_held_full + stats.export_dropped;
	time_t sec = (time_t)(wall_ns / 1000000000ULL);
	struct tm tm;
	char ts[16];
	size_t o = 0;

	if (cap)
		buf[0] = 0;
	if (n < 0) {
		free(r);
		return line(buf, cap, 0, cols, "spantap top: %s", strerror(ENOMEM));
	}
	if (opw < 10)
		opw = 10;
	if (opw > 60)
		opw = 60;
	for (int i = 0; i < n; i++)
		total += r[i].rate;
	qsort(r, (size_t)n, sizeof(*r), row_cmp);
	localtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	o = line(buf, cap, o, cols, "spantap top %s  last 10 s: %d operations, %.1f spans/s  sort: %s", ts, n, total,
		 sort_names[sort_key]);
	o = line(buf, cap, o, cols,
		 "spantap: spans %" PRIu64 "  lost %" PRIu64 "  drops %" PRIu64 "  parse errors %" PRIu64
		 "  series %" PRIu64 "/%u  overflow %" PRIu64,
		 stats.spans, stats.lost_events, drops, stats.parse_errors, stats.profile_series, series_max,
		 stats.profile_overflow);
	o = line(buf, cap, o, cols, "keys: r rate  e errors  5 p50  9 p99  n name  q quit");
	o = line(buf, cap, o, cols, "%-14s %-4s %-*s %8s %6s %8s %8s", "SERVICE", "SIDE", opw, "OPERATION", "RATE/s",
		 "ERR%", "P50", "P99");
	shown = rows - 4;
	for (int i = 0; i < n && i < shown; i++) {
		char p50[16], p99[16];

		profile__fmt_ns(p50, sizeof(p50), r[i].p50);
		profile__fmt_ns(p99, sizeof(p99), r[i].p99);
		o = line(buf, cap, o, cols, "%-14.14s %-4s %-*.*s %8.1f %6.1f %8s %8s", r[i].k->service,
			 r[i].k->kind == SPAN_KIND_SERVER ? "srv" : "cli", opw, opw, r[i].op, r[i].rate, err_pct(&r[i]),
			 p50, p99);
	}
	free(r);
	return o;
}

static void restore(void)
{
	if (raw_on) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		raw_on = 0;
	}
	if (tty && started) {
		fputs("\033[?25h\033[?1049l", out);
		fflush(out);
	}
	started = 0;
}

static void on_winch(int sig)
{
	(void)sig;
	resized = 1;
}

int top__start(FILE *o, enum top_sort sort, uint32_t max_series)
{
	out = o;
	sort_key = sort;
	series_max = max_series;
	frame_cap = 1 << 16;
	if (!(frame = malloc(frame_cap)))
		return -ENOMEM;
	tty = isatty(fileno(out)) && isatty(STDIN_FILENO);
	started = 1;
	if (!tty)
		return 0;
	if (tcgetattr(STDIN_FILENO, &saved) == 0) {
		struct termios t = saved;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
			raw_on = 1;
	}
	signal(SIGWINCH, on_winch);
	atexit(restore);
	/* the alternate screen, cursor hidden */
	fputs("\033[?1049h\033[?25l\033[H\033[2J", out);
	fflush(out);
	return 0;
}

static void draw(uint64_t wall)
{
	struct winsize ws = {0};
	int cols = 80, rows = 24;

	if (!tty) {
		/* a plain table a second, as wide as it needs */
		top__render(frame, frame_cap, 140, 1000, wall);
		fputs(frame, out);
		fputc('\n', out);
		fflush(out);
		return;
	}
	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	top__render(frame, frame_cap, cols, rows, wall);
	/* home, then each line cleared to its end, then the rest of the screen */
	fputs("\033[H", out);
	int lineno = 0;
	for (char *p = frame, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		if (lineno == 3)
			fputs("\033[7m", out); /* the header in reverse video */
		fwrite(p, 1, (size_t)(nl - p), out);
		fputs(lineno == 3 ? "\033[K\033[0m" : "\033[K", out);
		if (++lineno < rows)
			fputs("\r\n", out);
		else
			break;
	}
	fputs("\033[J", out);
	fflush(out);
}

int top__tick(uint64_t mono)
{
	char keys[32];
	ssize_t n;
	int redraw = 0;

	if (!started)
		return 0;
	if (raw_on) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		while (poll(&p, 1, 0) == 1 && (n = read(STDIN_FILENO, keys, sizeof(keys))) > 0) {
			for (ssize_t i = 0; i < n; i++) {
				switch (keys[i]) {
				case 'q':
				case 'Q':
					return 1;
				case 'r':
					sort_key = TOP_SORT_RATE;
					break;
				case 'e':
					sort_key = TOP_SORT_ERRORS;
					break;
				case '5':
					sort_key = TOP_SORT_P50;
					break;
				case '9':
				case 'p':
					sort_key = TOP_SORT_P99;
					break;
				case 'n':
					sort_key = TOP_SORT_NAME;
					break;
				default:
					continue;
				}
				redraw = 1;
			}
		}
	}
	if (resized) {
		resized = 0;
		redraw = 1;
	}
	if (redraw || mono - last_frame >= 1000000000ULL) {
		draw(clock__to_wall(mono));
		last_frame = mono;
	}
	return 0;
}

void top__stop(void)
{
	restore();
	free(frame);
	frame = NULL;
}
