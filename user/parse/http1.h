/* HTTP/1.x message heads and chunked bodies, parsed without allocating or
 * copying: results are slices into the caller's buffer. Parse functions
 * return bytes consumed (>0), -2 when more bytes are needed, -1 when the
 * bytes cannot be HTTP/1.x. */
#ifndef SPANTAP_HTTP1_H
#define SPANTAP_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_MAX_HEADERS 100

struct http1_slice {
	const char *p;
	size_t len;
};

struct http1_header {
	struct http1_slice name;
	struct http1_slice value;
};

/* Headers spantap reads, found once while parsing: no lookup rescans. */
enum http1_known {
	H1_HOST,
	H1_USER_AGENT,
	H1_TRACEPARENT,
	H1_UBER_TRACE_ID,
	H1_B3,
	H1_X_B3_TRACEID,
	H1_X_B3_SPANID,
	H1_X_B3_PARENTSPANID,
	H1_X_B3_SAMPLED,
	H1_TRANSFER_ENCODING,
	H1_CONTENT_LENGTH,
	H1_KNOWN_N
};

struct http1_head {
	/* request line */
	struct http1_slice method;
	struct http1_slice target;
	/* status line */
	int status;
	struct http1_slice reason;
	int minor_version;
	uint8_t known[H1_KNOWN_N]; /* 1 + index of the first such header; 0: absent */
	uint16_t repeated;	   /* bit per known header seen more than once */
	size_t num_headers;
	struct http1_header headers[HTTP1_MAX_HEADERS];
};

int http1_parse_request(const char *buf, size_t len, struct http1_head *h);
int http1_parse_response(const char *buf, size_t len, struct http1_head *h);

/* Case-insensitive lookup; NULL when absent. */
const struct http1_slice *http1_header(const struct http1_head *h, const char *name);
int http1_slice_eq(struct http1_slice s, const char *lit); /* case-insensitive */
/* The first header of a known name, as http1_header would find it. */
static inline const struct http1_slice *http1_header_known(const struct http1_head *h, enum http1_known k)
{
	return h->known[k] ? &h->headers[h->known[k] - 1].value : NULL;
}

/* How the body after a head is delimited. */
enum http1_body {
	HTTP1_BODY_NONE,
	HTTP1_BODY_LENGTH, /* *len bytes follow */
	HTTP1_BODY_CHUNKED,
	HTTP1_BODY_UNTIL_CLOSE,
	HTTP1_BODY_INVALID, /* conflicting or malformed framing headers */
};
/* req_method is the request's method when classifying a response (a HEAD
 * response has no body), NULL for a request. */
enum http1_body http1_body_kind(const struct http1_head *h, int is_response, struct http1_slice req_method,
				uint64_t *len);

/* Incremental chunked-body decoder: it only delimits, it does not copy. */
struct http1_chunked {
	uint8_t state;
	uint8_t digits;
	uint64_t remaining; /* bytes left in the current chunk's data */
};
/* Consumes bytes of a chunked body; returns bytes consumed up to and
 * including the end of the body, -2 when all of buf was consumed and the
 * body goes on, -1 on invalid framing. */
ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len);
/* n bytes of the body were not captured: fine inside chunk data (0), a lost
 * position anywhere else (-1). */
int http1_chunked_skip(struct http1_chunked *c, uint64_t n);

#endif
