/* The HTTP side of the exporters that POST batches (the Jaeger collector,
 * OTLP/HTTP): a bounded queue of request bodies and a sender thread, so a
 * slow or dead peer never stalls tracing. 429/502/503/504 and connection
 * failures are retried with backoff (Retry-After honoured), other statuses
 * drop the batch; every span that is not delivered is counted. */
#ifndef SPANTAP_EXPORT_HTTPQ_H
#define SPANTAP_EXPORT_HTTPQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define HTTPQ_MAX 64 /* batches waiting to be sent; when full, the oldest is dropped */
#define HTTPQ_BACKOFF_MIN_MS 100
#define HTTPQ_BACKOFF_MAX_MS 2000
#define HTTPQ_RETRY_AFTER_MAX_S 60 /* a longer Retry-After is cut to this */
#define HTTPQ_DRAIN_MS 5000	   /* at exit, how long the queue may take to empty */

struct httpq;

struct httpq_opts {
	const char *what; /* in messages: "jaeger collector", "OTLP endpoint" */
	const char *url;
	const char *content_type;
	const char *const *headers; /* more "Name: value" lines (never logged) */
	size_t nheaders;
	int gzip;
	long timeout_ms; /* per request; 0: 5000 */
	/* https: PEM files, or NULL for the system's CAs and no client certificate */
	const char *ca_file, *client_cert, *client_key;
	/* optional: reads a response body. For a 2xx, returns how many of the
	 * batch's spans the peer rejected (OTLP's partial success); for any
	 * status, may put the peer's message in msg. */
	uint32_t (*response)(long status, const uint8_t *body, size_t len, char *msg, size_t msglen);
};

/* Starts the sender thread. NULL with errno set and the reason logged. */
struct httpq *httpq__new(const struct httpq_opts *o);
/* Queues one request body made of the iov parts (copied), carrying nspans
 * spans; compressed on the sender thread when gzip is set. */
void httpq__push(struct httpq *q, const struct iovec *iov, int iovcnt, uint32_t nspans);
/* Sends what is queued (for at most HTTPQ_DRAIN_MS), counts the rest as
 * dropped, stops the thread. NULL is fine. */
void httpq__free(struct httpq *q);

#endif
