/* The span model every protocol builds and every sink reads: fixed-size,
 * built in place, no allocation. Tag strings live in the span's own buffer. */
#ifndef SPANTAP_SPAN_H
#define SPANTAP_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPAN_MAX_TAGS 40
#define SPAN_STRBUF 4096
#define SPAN_NAME_MAX 160

enum span_kind { SPAN_KIND_SERVER = 1, SPAN_KIND_CLIENT = 2 };
enum tag_type { TAG_STR, TAG_INT, TAG_BOOL };

struct span_tag {
	const char *key; /* static string */
	uint8_t type;
	uint16_t klen; /* strlen(key) */
	int64_t i;     /* TAG_INT, TAG_BOOL */
	const char *s; /* TAG_STR: points into the span's strbuf */
	uint32_t slen;
};

struct span {
	uint8_t trace_id[16];
	uint64_t span_id;
	uint64_t parent_id;  /* 0: root */
	uint64_t follows_id; /* FOLLOWS_FROM this span (in follows_trace), or 0 */
	uint8_t follows_trace[16];
	uint8_t kind;
	bool error;
	uint32_t pid, tid;
	uint64_t start_ns, end_ns; /* wall clock, ns since the epoch */
	const char *service;
	char name[SPAN_NAME_MAX];
	/* nonzero: tags[0..nbegin) are span__begin's, the same in every span
	 * with this key (one connection, one kind), so encoders may reuse them */
	uint64_t begin_key;
	uint32_t nbegin;
	/* where the latency profile (emit/profile.h) finds what it groups by
	 * without a pass over the tags: 1 + the tag's index, 0 when absent;
	 * set with SPAN_MARK just before the tag is added, reset by span__begin */
	struct span_marks {
		uint8_t op;	/* http.request.method or db.operation.name */
		uint8_t path;	/* url.path */
		uint8_t ns;	/* db.namespace */
		uint8_t status; /* http.response.status_code */
		uint8_t peer;	/* server.address */
		uint8_t error;	/* the first error.type */
	} mark;
	/* kept as tags are added (only ever through span__tag_*): the encoders'
	 * bound without a pass over the tags */
	uint32_t tagbytes; /* sum of every tag's klen and string tags' slen */
	uint32_t maxslen;  /* the longest string tag value */
	uint32_t ntags;
	struct span_tag tags[SPAN_MAX_TAGS];
	uint32_t strused;
	char strbuf[SPAN_STRBUF];
};

#define SPAN_MARK(s, field) ((s)->mark.field = (uint8_t)((s)->ntags + 1))

struct conn;

/* memcpy for the short strings tags hold: no call up to 32 bytes. Inlined
 * into a caller whose source is a short array, GCC warns about the branches
 * for longer n that the array's length rules out: not reached. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
static inline void span__copy_bytes(void *dst, const void *src, size_t n)
{
	char *d = dst;
	const char *s = src;

	if (n >= 16 && n <= 32) {
		__builtin_memcpy(d, s, 16);
		__builtin_memcpy(d + n - 16, s + n - 16, 16);
	} else if (n >= 8 && n < 16) {
		__builtin_memcpy(d, s, 8);
		__builtin_memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4 && n < 8) {
		__builtin_memcpy(d, s, 4);
		__builtin_memcpy(d + n - 4, s + n - 4, 4);
	} else if (n < 4) {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	} else {
		__builtin_memcpy(d, s, n);
	}
}
#pragma GCC diagnostic pop

/* Starts a span for an exchange on c: kind, times, process and peer tags.
 * Its ids were fixed when the request started: stitch__apply sets them. */
void span__begin(struct span *s, const struct conn *c, enum span_kind kind, uint64_t start_mono, uint64_t end_mono,
		 uint32_t tid);
void span__set_name(struct span *s, const char *a, size_t alen, const char *b, size_t blen);
/* Tags; a value that does not fit is truncated (and marked with "..."). The
 * key is a static string; its length is taken once, at compile time when
 * it is a literal (the wrappers below). */
void span__tag_strk_slow(struct span *s, const char *key, size_t klen, const char *v, size_t len);
void span__tag_intk_slow(struct span *s, const char *key, size_t klen, int64_t v);
void span__tag_boolk(struct span *s, const char *key, size_t klen, bool v);
/* the common case inline: room for the tag and its whole value */
static inline void span__tag_strk(struct span *s, const char *key, size_t klen, const char *v, size_t len)
{
	if (s->ntags < SPAN_MAX_TAGS && len < SPAN_STRBUF - s->strused) {
		struct span_tag *t = &s->tags[s->ntags++];
		char *dst = s->strbuf + s->strused;

		span__copy_bytes(dst, v, len);
		t->key = key;
		t->klen = (uint16_t)klen;
		t->type = TAG_STR;
		t->s = dst;
		t->slen = (uint32_t)len;
		s->strused += (uint32_t)len;
		s->tagbytes += (uint32_t)(klen + len);
		if (len > s->maxslen)
			s->maxslen = (uint32_t)len;
		return;
	}
	span__tag_strk_slow(s, key, klen, v, len);
}
static inline void span__tag_intk(struct span *s, const char *key, size_t klen, int64_t v)
{
	if (s->ntags < SPAN_MAX_TAGS) {
		struct span_tag *t = &s->tags[s->ntags++];

		t->key = key;
		t->klen = (uint16_t)klen;
		t->type = TAG_INT;
		t->i = v;
		s->tagbytes += (uint32_t)klen;
		return;
	}
	span__tag_intk_slow(s, key, klen, v);
}
static inline void span__tag_str(struct span *s, const char *key, const char *v, size_t len)
{
	span__tag_strk(s, key, __builtin_strlen(key), v, len);
}
static inline void span__tag_cstr(struct span *s, const char *key, const char *v)
{
	span__tag_strk(s, key, __builtin_strlen(key), v, __builtin_strlen(v));
}
static inline void span__tag_int(struct span *s, const char *key, int64_t v)
{
	span__tag_intk(s, key, __builtin_strlen(key), v);
}
static inline void span__tag_bool(struct span *s, const char *key, bool v)
{
	span__tag_boolk(s, key, __builtin_strlen(key), v);
}
const struct span_tag *span__tag(const struct span *s, const char *key);
/* Marks the span failed, with error.type = type. */
void span__error(struct span *s, const char *type, size_t len);
/* The span is complete: a failed one gets error=true. The caller then hands
 * it to alias__emit (trace/alias.h), the gate in front of the sinks. */
void span__finish(struct span *s);
/* A copy whose tags point into its own buffer. */
void span__copy(struct span *dst, const struct span *src);

/* Copies a URL target into out, replacing the values of query parameters
 * whose names look secret (token, password, key...) with "?". Returns the
 * length written (always < outlen). */
size_t sanitize_target(char *out, size_t outlen, const char *t, size_t tlen);

#endif
