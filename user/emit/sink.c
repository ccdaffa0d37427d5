/* The sink registry and the two printers: human-readable lines (the default
 * of `sudo spantap`) and JSON lines (`--output json`, read by scripts). */
#include "emit/sink.h"

#include "base/procinfo.h"

#include "span/span.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SINKS 8

static struct sink *sinks[MAX_SINKS];
static int nsinks;

int sink__add(struct sink *s)
{
	if (nsinks == MAX_SINKS)
		return -ENOSPC;
	sinks[nsinks++] = s;
	return 0;
}

void sink__emit_all(const struct span *sp)
{
	for (int i = 0; i < nsinks; i++)
		sinks[i]->emit(sinks[i], sp);
}

void sink__flush_all(void)
{
	for (int i = 0; i < nsinks; i++)
		if (sinks[i]->flush)
			sinks[i]->flush(sinks[i]);
}

void sink__destroy_all(void)
{
	for (int i = 0; i < nsinks; i++)
		if (sinks[i]->destroy)
			sinks[i]->destroy(sinks[i]);
	nsinks = 0;
}

struct print_sink {
	struct sink base;
	FILE *f;
	int json;
};

static void json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c >= 0x7f)
			/* bytes from the wire are not trusted to be UTF-8 */
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void hex(char *out, const uint8_t *b, size_t n)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

/* "process":{...}: the process's container, pod and OTEL resource tags,
 * when it has any besides host.name (base/procinfo.h) */
static void print_resource(FILE *f, uint32_t pid)
{
	size_t len, i = 0;
	const char *t = procinfo__tags(pid, &len);
	int n = 0;

	while (i < len) {
		const char *k = t + i, *v = k + strlen(k) + 1;

		i = (size_t)(v - t) + strlen(v) + 1;
		if (strcmp(k, "host.name") == 0)
			continue;
		fputs(n++ ? "," : "\"process\":{", f);
		json_str(f, k, strlen(k));
		fputc(':', f);
		json_str(f, v, strlen(v));
	}
	if (n)
		fputs("},", f);
}

static void print_json(FILE *f, const struct span *s)
{
	char tid[33];

	hex(tid, s->trace_id, 16);
	fprintf(f,
		"{\"trace_id\":\"%s\",\"span_id\":\"%016" PRIx64 "\",\"parent_span_id\":\"%016" PRIx64
		"\",\"kind\":\"%s\",\"name\":",
		tid, s->span_id, s->parent_id, s->kind == SPAN_KIND_SERVER ? "server" : "client");
	json_str(f, s->name, strlen(s->name));
	if (s->follows_id) {
		char ftid[33];
		hex(ftid, s->follows_trace, 16);
		fprintf(f, ",\"follows_from\":{\"trace_id\":\"%s\",\"span_id\":\"%016" PRIx64 "\"}", ftid,
			s->follows_id);
	}
	fprintf(f, ",\"start_us\":%" PRIu64 ",\"duration_us\":%" PRIu64 ",\"service\":", s->start_ns / 1000,
		(s->end_ns - s->start_ns) / 1000);
	json_str(f, s->service, strlen(s->service));
	fprintf(f, ",\"pid\":%u,\"tid\":%u,\"error\":%s,", s->pid, s->tid, s->error ? "true" : "false");
	print_resource(f, s->pid);
	fputs("\"tags\":{", f);
	for (uint32_t i = 0; i < s->ntags; i++) {
		const struct span_tag *t = &s->tags[i];
		if (i)
			fputc(',', f);
		json_str(f, t->key, strlen(t->key));
		fputc(':', f);
		if (t->type == TAG_STR)
			json_str(f, t->s, t->slen);
		else if (t->type == TAG_INT)
			fprintf(f, "%" PRId64, t->i);
		else
			fputs(t->i ? "true" : "false", f);
	}
	fputs("}}\n", f);
}

static void tag_text(FILE *f, const struct span *s, const char *key)
{
	const struct span_tag *t = span__tag(s, key);

	if (t && t->type == TAG_STR)
		fprintf(f, "  %.*s", (int)t->slen, t->s);
	else if (t)
		fprintf(f, "  %" PRId64, t->i);
}

static void print_text(FILE *f, const struct span *s)
{
	time_t sec = (time_t)(s->start_ns / 1000000000ULL);
	struct tm tm;
	char ts[16];
	const struct span_tag *peer = span__tag(s, "peer.address");

	localtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	fprintf(f, "%s.%06u %-16s %7u %-6s %-40s %9.3fms  %-21.*s", ts, (unsigned)(s->start_ns / 1000 % 1000000),
		s->service, s->pid, s->kind == SPAN_KIND_SERVER ? "SERVER" : "CLIENT", s->name,
		(double)(s->end_ns - s->start_ns) / 1e6, peer ? (int)peer->slen : 0, peer ? peer->s : "");
	tag_text(f, s, "http.response.status_code");
	tag_text(f, s, "url.full");
	tag_text(f, s, "db.query.text");
	if (s->error) {
		fputs("  ERROR", f);
		tag_text(f, s, "error.type");
	}
	/* enough of the trace id to grep a request's spans together */
	fprintf(f, "  trace=%02x%02x%02x%02x", s->trace_id[0], s->trace_id[1], s->trace_id[2], s->trace_id[3]);
	fputc('\n', f);
}

static void print_emit(struct sink *base, const struct span *s)
{
	struct print_sink *p = (struct print_sink *)base;

	if (p->json)
		print_json(p->f, s);
	else
		print_text(p->f, s);
}

static void print_flush(struct sink *base)
{
	fflush(((struct print_sink *)base)->f);
}

static void print_destroy(struct sink *base)
{
	fflush(((struct print_sink *)base)->f);
	free(base);
}

struct sink *sink_print__new(FILE *f, int json)
{
	struct print_sink *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->base.name = json ? "json" : "print";
	p->base.emit = print_emit;
	p->base.flush = print_flush;
	p->base.destroy = print_destroy;
	p->f = f;
	p->json = json;
	return &p->base;
}
