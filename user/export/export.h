/* Exporters: sinks that send spans to a tracing backend. */
#ifndef SPANTAP_EXPORT_H
#define SPANTAP_EXPORT_H

#include "emit/sink.h"
#include "export/thrift.h"

#include <stddef.h>

/* Jaeger agent over UDP; NULL with errno set and the reason logged. */
struct sink *sink_jaeger_agent__new(const char *host, const char *port, enum thrift_proto proto);

/* Jaeger collector over HTTP (Thrift binary, optionally gzip); NULL with
 * errno set and the reason logged. */
struct sink *sink_jaeger_collector__new(const char *url, int gzip);
/* OTLP/HTTP (protobuf, optionally gzip) from these settings, then the
 * environment (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _COMPRESSION,
 * _TIMEOUT, _PROTOCOL); the flags win. 0 with *out NULL when neither asks
 * for it; -EINVAL after one line on stderr when a setting is wrong. */
struct otlp_opts {
	const char *endpoint;	    /* --otlp-endpoint (no path: /v1/traces), or NULL */
	const char *const *headers; /* --otlp-header NAME=VALUE */
	size_t nheaders;
	int gzip; /* --compress: 1 gzip, 0 none, -1 not given */
};
int sink_otlp__setup(const struct otlp_opts *o, struct sink **out);

/* 0 when url is http(s)://host..., else -EINVAL */
int export__check_url(const char *url);

/* this host, for process tags */
const char *export__hostname(void);
const char *export__host_ip(void);

/* "host", "host:port", "[v6]:port" -> host and port (default_port when
 * absent); 0 or -EINVAL */
int export__split_hostport(const char *in, char *host, size_t hostlen, char *port, size_t portlen,
			   const char *default_port);

#endif
