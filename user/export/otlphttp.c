/* The OTLP/HTTP exporter: per-process batches as ExportTraceServiceRequest
 * protobuf bodies POSTed to /v1/traces through the shared HTTP queue
 * (httpq.h: the Jaeger collector's queue, retries and counters), and its
 * configuration from flags and the OpenTelemetry SDK's environment
 * variables (OTEL_EXPORTER_OTLP_*; flags win, the per-signal TRACES_
 * variables win over the general ones). */
#include "export/export.h"

#include "base/log.h"
#include "base/stats.h"
#include "export/batch.h"
#include "export/httpq.h"
#include "export/otlp.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SPANTAP_VERSION
#define SPANTAP_VERSION "dev"
#endif

#define MAX_BATCH (256 << 10) /* one request's spans */
#define MAX_HEAD 16384	      /* a request without its spans: the Resource */
#define MAX_HEADERS 32
#define DEFAULT_TIMEOUT_MS 10000 /* the SDKs' default */

struct otlp_sink {
	struct sink base;
	struct batcher *batcher;
	struct httpq *q;
	uint8_t head[MAX_HEAD];
};

static void otlp_deliver(void *ctx, const struct export_process *p, const uint8_t *body, size_t len, uint32_t n)
{
	struct otlp_sink *o = ctx;
	size_t hl = otlp__encode_head(o->head, sizeof(o->head), p, len);

	if (!hl) {
		stats__add(export_dropped, n);
		return;
	}
	struct iovec iov[2] = {{.iov_base = o->head, .iov_len = hl}, {.iov_base = (void *)body, .iov_len = len}};
	httpq__push(o->q, iov, 2, n);
}

static void otlp_emit(struct sink *base, const struct span *s)
{
	batcher__add(((struct otlp_sink *)base)->batcher, s);
}

static void otlp_flush(struct sink *base)
{
	batcher__tick(((struct otlp_sink *)base)->batcher);
}

static void otlp_destroy(struct sink *base)
{
	struct otlp_sink *o = (struct otlp_sink *)base;

	batcher__flush_all(o->batcher);
	httpq__free(o->q);
	batcher__free(o->batcher);
	free(o);
}

/* ---- configuration */

/* the first of the variables that is set and not empty */
static const char *env2(const char *traces, const char *general, const char **which)
{
	const char *v = getenv(traces);

	*which = traces;
	if (v && *v)
		return v;
	v = getenv(general);
	*which = general;
	return v && *v ? v : NULL;
}

struct header_set {
	char *line[MAX_HEADERS]; /* "Name: value" */
	size_t namelen[MAX_HEADERS];
	size_t n;
};

static int hexval(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* an HTTP token (RFC 9110): the characters a header name may have */
static int token_char(int c)
{
	return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

/* Adds "name=value" (value percent-decoded when decode is set), replacing
 * a header of the same name. 0 or -EINVAL; the value is never printed. */
static int header_add(struct header_set *h, const char *entry, size_t len, int decode, const char *from)
{
	const char *eq;
	size_t nl, vl, o;
	char *line;

	while (len && isspace((unsigned char)*entry))
		entry++, len--;
	while (len && isspace((unsigned char)entry[len - 1]))
		len--;
	eq = memchr(entry, '=', len);
	if (!eq) {
		fprintf(stderr, "spantap: invalid header in %s: '%.*s...' has no '=': expected NAME=VALUE\n", from,
			(int)(len < 16 ? len : 16), entry);
		return -EINVAL;
	}
	nl = (size_t)(eq - entry);
	while (nl && isspace((unsigned char)entry[nl - 1]))
		nl--;
	for (size_t i = 0; i < nl; i++)
		if (!token_char((unsigned char)entry[i]))
			nl = 0;
	if (!nl) {
		fprintf(stderr, "spantap: invalid header name in %s: '%.*s'\n", from, (int)(eq - entry), entry);
		return -EINVAL;
	}
	const char *v = eq + 1;
	vl = len - (size_t)(v - entry);
	while (vl && isspace((unsigned char)*v))
		v++, vl--;
	line = malloc(nl + 2 + vl + 1);
	if (!line)
		return -ENOMEM;
	memcpy(line, entry, nl);
	memcpy(line + nl, ": ", 2);
	o = nl + 2;
	for (size_t i = 0; i < vl; i++) {
		int c = (unsigned char)v[i];
		if (decode && c == '%' && i + 2 < vl && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
			c = hexval(v[i + 1]) << 4 | hexval(v[i + 2]);
			i += 2;
		}
		if (c == '\r' || c == '\n' || c == 0) {
			fprintf(stderr, "spantap: invalid value for header '%.*s' in %s: control characters\n", (int)nl,
				entry, from);
			free(line);
			return -EINVAL;
		}
		line[o++] = (char)c;
	}
	line[o] = 0;
	for (size_t i = 0; i < h->n; i++)
		if (h->namelen[i] == nl && strncasecmp(h->line[i], line, nl) == 0) {
			free(h->line[i]);
			h->line[i] = line;
			return 0;
		}
	if (h->n == MAX_HEADERS) {
		fprintf(stderr, "spantap: too many OTLP headers (at most %d)\n", MAX_HEADERS);
		free(line);
		return -EINVAL;
	}
	h->namelen[h->n] = nl;
	h->line[h->n++] = line;
	return 0;
}

/* "k1=v1,k2=v2" (W3C baggage form, values percent-encoded) */
static int headers_from_env(struct header_set *h, const char *var)
{
	const char *v = getenv(var);

	while (v && *v) {
		const char *comma = strchr(v, ',');
		size_t n = comma ? (size_t)(comma - v) : strlen(v);
		int err;
		/* empty entries (a trailing comma) are allowed */
		for (size_t i = 0; i < n; i++)
			if (!isspace((unsigned char)v[i])) {
				if ((err = header_add(h, v, n, 1, var)))
					return err;
				break;
			}
		v += n + (comma ? 1 : 0);
	}
	return 0;
}

static void headers_free(struct header_set *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->line[i]);
}

/* --otlp-endpoint: a URL without a path gets /v1/traces */
static char *endpoint_from_flag(const char *url)
{
	const char *after = strstr(url, "://");
	const char *path = after ? strchr(after + 3, '/') : NULL;
	char *out;

	if (path && strcmp(path, "/") != 0)
		return strdup(url);
	if (asprintf(&out, "%.*s/v1/traces", (int)(path ? (size_t)(path - url) : strlen(url)), url) < 0)
		return NULL;
	return out;
}

/* OTEL_EXPORTER_OTLP_ENDPOINT: a base URL to which v1/traces is appended */
static char *endpoint_from_base(const char *base)
{
	size_t n = strlen(base);
	char *out;

	if (asprintf(&out, "%s%sv1/traces", base, n && base[n - 1] == '/' ? "" : "/") < 0)
		return NULL;
	return out;
}

int sink_otlp__setup(const struct otlp_opts *opts, struct sink **out)
{
	const char *which, *v;
	struct header_set h = {0};
	struct httpq_opts qo = {
		.what = "OTLP endpoint",
		.content_type = "application/x-protobuf",
		.timeout_ms = DEFAULT_TIMEOUT_MS,
		.response = otlp__parse_response,
	};
	struct otlp_sink *o = NULL;
	const char *given;
	char *url = NULL, ua[64];
	int err = -EINVAL;

	*out = NULL;
	if (opts->endpoint) {
		given = opts->endpoint;
		url = endpoint_from_flag(given);
		which = "--otlp-endpoint";
	} else if ((v = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) && *v) {
		given = v;
		url = strdup(v); /* as it is: the spec's rule for the per-signal variable */
		which = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
	} else if ((v = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) && *v) {
		given = v;
		url = endpoint_from_base(v);
		which = "OTEL_EXPORTER_OTLP_ENDPOINT";
	} else {
		return 0; /* no OTLP export */
	}
	if (!url)
		return -ENOMEM;
	if (export__check_url(url)) {
		fprintf(stderr,
			"spantap: invalid OTLP endpoint '%s' (from %s): expected http[s]://HOST[:PORT][/PATH]\n", given,
			which);
		goto fail;
	}
	if ((v = env2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL", &which)) &&
	    strcmp(v, "http/protobuf") != 0) {
		fprintf(stderr, "spantap: %s='%s' is not supported: spantap sends OTLP as http/protobuf\n", which, v);
		goto fail;
	}
	qo.gzip = opts->gzip;
	if (qo.gzip < 0) {
		qo.gzip = 0;
		v = env2("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION", &which);
		if (v && strcmp(v, "gzip") == 0) {
			qo.gzip = 1;
		} else if (v && strcmp(v, "none") != 0) {
			fprintf(stderr, "spantap: invalid value '%s' for %s: expected gzip or none\n", v, which);
			goto fail;
		}
	}
	if ((v = env2("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", &which))) {
		char *end;
		long ms = strtol(v, &end, 10);
		if (*end || ms < 1 || ms > 600000) {
			fprintf(stderr, "spantap: invalid value '%s' for %s: expected milliseconds, 1 to 600000\n", v,
				which);
			goto fail;
		}
		qo.timeout_ms = ms;
	}
	/* TLS: a CA to verify the endpoint with, a client certificate and key */
	static const char *const tls_vars[3][2] = {
		{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
		{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"},
	};
	const char **tls[3] = {&qo.ca_file, &qo.client_cert, &qo.client_key};
	for (int i = 0; i < 3; i++) {
		if (!(v = env2(tls_vars[i][0], tls_vars[i][1], &which)))
			continue;
		if (access(v, R_OK)) {
			fprintf(stderr, "spantap: failed to read '%s' (from %s): %s\n", v, which, strerror(errno));
			goto fail;
		}
		*tls[i] = v;
	}
	/* the general headers, then the per-signal ones, then the flags: each
	 * replaces a header of the same name */
	snprintf(ua, sizeof(ua), "User-Agent=spantap/%s", SPANTAP_VERSION);
	if ((err = header_add(&h, ua, strlen(ua), 0, "User-Agent")) ||
	    (err = headers_from_env(&h, "OTEL_EXPORTER_OTLP_HEADERS")) ||
	    (err = headers_from_env(&h, "OTEL_EXPORTER_OTLP_TRACES_HEADERS")))
		goto fail;
	for (size_t i = 0; i < opts->nheaders; i++)
		if ((err = header_add(&h, opts->headers[i], strlen(opts->headers[i]), 0, "--otlp-header")))
			goto fail;
	qo.url = url;
	qo.headers = (const char *const *)h.line;
	qo.nheaders = h.n;

	err = -ENOMEM;
	o = calloc(1, sizeof(*o));
	if (!o)
		goto fail;
	o->batcher = batcher__new(otlp__format(), MAX_BATCH, otlp_deliver, o);
	if (!o->batcher)
		goto fail;
	o->q = httpq__new(&qo); /* copies the URL and the headers */
	if (!o->q) {
		err = -errno;
		goto fail;
	}
	o->base.name = "otlp";
	o->base.emit = otlp_emit;
	o->base.flush = otlp_flush;
	o->base.destroy = otlp_destroy;
	pr_debug("OTLP export to '%s'%s, %zu header(s)\n", url, qo.gzip ? ", gzip" : "", h.n);
	headers_free(&h);
	free(url);
	*out = &o->base;
	return 0;
fail:
	if (o) {
		batcher__free(o->batcher);
		free(o);
	}
	headers_free(&h);
	free(url);
	return err;
}
