/* Span assembly helpers shared by all protocols: ids, clocks, peer tags,
 * bounded tag storage and URL sanitizing. */
#include "span.h"

#include "alias.h"
#include "conn.h"
#include "procinfo.h"
#include "sink.h"
#include "stats.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* xoshiro256** seeded from getrandom: fast, and ids need not be secret */
static uint64_t rng_s[4];

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
	uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;

	rng_s[2] ^= rng_s[0];
	rng_s[3] ^= rng_s[1];
	rng_s[1] ^= rng_s[2];
	rng_s[0] ^= rng_s[3];
	rng_s[2] ^= t;
	rng_s[3] = rotl(rng_s[3], 45);
	return r;
}

void ids__init(void)
{
	if (getrandom(rng_s, sizeof(rng_s), 0) != sizeof(rng_s)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		rng_s[0] = (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15ULL;
		rng_s[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ULL + 1;
		rng_s[2] = (uint64_t)getpid() * 0x94d049bb133111ebULL + 3;
		rng_s[3] = 0x2545f4914f6cdd1dULL;
	}
}

uint64_t ids__span_id(void)
{
	uint64_t v;

	while (!(v = rng_next()))
		;
	return v;
}

void ids__trace_id(uint8_t out[16])
{
	uint64_t a = ids__span_id(), b = rng_next();

	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

static int64_t wall_offset;

uint64_t clock__mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* offset = realtime - monotonic, from the tightest of a few samples */
void clock__sync(void)
{
	int64_t best_gap = INT64_MAX;

	for (int i = 0; i < 5; i++) {
		struct timespec r;
		uint64_t m1 = clock__mono_now();
		clock_gettime(CLOCK_REALTIME, &r);
		uint64_t m2 = clock__mono_now();
		int64_t gap = (int64_t)(m2 - m1);
		if (gap < best_gap) {
			best_gap = gap;
			wall_offset = (int64_t)((uint64_t)r.tv_sec * 1000000000ULL + (uint64_t)r.tv_nsec) -
				      (int64_t)(m1 + (m2 - m1) / 2);
		}
	}
}

uint64_t clock__to_wall(uint64_t mono_ns)
{
	return (uint64_t)((int64_t)mono_ns + wall_offset);
}

void addr__format(char *out, size_t outlen, uint8_t family, const uint8_t a[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (family == 4)
		inet_ntop(AF_INET, a, out, (socklen_t)outlen);
	else if (family == 6 && memcmp(a, mapped, 12) == 0)
		inet_ntop(AF_INET, a + 12, out, (socklen_t)outlen);
	else if (family == 6)
		inet_ntop(AF_INET6, a, out, (socklen_t)outlen);
	else
		snprintf(out, outlen, "?");
}

static const char *strbuf_put(struct span *s, const char *v, size_t len, uint32_t *outlen)
{
	size_t room = SPAN_STRBUF - s->strused;
	char *dst = s->strbuf + s->strused;

	if (room == 0) {
		*outlen = 0;
		return "";
	}
	if (len > room) {
		/* keep what fits and say so */
		len = room;
		memcpy(dst, v, len);
		if (len >= 3)
			memcpy(dst + len - 3, "...", 3);
	} else {
		span__copy_bytes(dst, v, len);
	}
	s->strused += (uint32_t)len;
	*outlen = (uint32_t)len;
	return dst;
}

static struct span_tag *tag_new(struct span *s, const char *key, size_t klen, uint8_t type)
{
	struct span_tag *t;

	if (s->ntags == SPAN_MAX_TAGS)
		return NULL;
	t = &s->tags[s->ntags++];
	t->key = key;
	t->klen = (uint16_t)klen;
	t->type = type;
	return t;
}

void span__tag_strk(struct span *s, const char *key, size_t klen, const char *v, size_t len)
{
	struct span_tag *t = tag_new(s, key, klen, TAG_STR);

	if (t)
		t->s = strbuf_put(s, v, len, &t->slen);
}

void span__tag_intk(struct span *s, const char *key, size_t klen, int64_t v)
{
	struct span_tag *t = tag_new(s, key, klen, TAG_INT);

	if (t)
		t->i = v;
}

void span__tag_boolk(struct span *s, const char *key, size_t klen, bool v)
{
	struct span_tag *t = tag_new(s, key, klen, TAG_BOOL);

	if (t)
		t->i = v;
}

const struct span_tag *span__tag(const struct span *s, const char *key)
{
	for (uint32_t i = 0; i < s->ntags; i++)
		if (strcmp(s->tags[i].key, key) == 0)
			return &s->tags[i];
	return NULL;
}

void span__set_name(struct span *s, const char *a, size_t alen, const char *b, size_t blen)
{
	/* as snprintf "%.*s%s%.*s" would: up to a NUL, cut to fit */
	size_t room = sizeof(s->name) - 1, n = strnlen(a, alen < room ? alen : room);

	memcpy(s->name, a, n);
	if (blen && n < room) {
		s->name[n++] = ' ';
		size_t m = strnlen(b, blen < room - n ? blen : room - n);
		memcpy(s->name + n, b, m);
		n += m;
	}
	s->name[n] = 0;
}

void span__begin(struct span *s, const struct conn *c, enum span_kind kind, uint64_t start_mono, uint64_t end_mono,
		 uint32_t tid)
{
	s->ntags = 0;
	s->strused = 0;
	s->error = false;
	s->follows_id = 0;
	s->name[0] = 0;
	s->kind = (uint8_t)kind;
	s->pid = c->tgid;
	s->tid = tid;
	if (end_mono < start_mono)
		end_mono = start_mono;
	s->start_ns = clock__to_wall(start_mono);
	s->end_ns = s->start_ns + (end_mono - start_mono);
	s->service = procinfo__service(c->tgid, c->comm);

	span__tag_cstr(s, "span.kind", kind == SPAN_KIND_SERVER ? "server" : "client");
	span__tag_cstr(s, "network.transport", "tcp");
	span__tag_cstr(s, "network.type", c->v6 ? "ipv6" : "ipv4");
	span__tag_str(s, "network.peer.address", c->rip, c->rip_len);
	span__tag_int(s, "network.peer.port", c->rport);
	span__tag_str(s, "network.local.address", c->lip, c->lip_len);
	span__tag_int(s, "network.local.port", c->lport);
	span__tag_str(s, c->v6 ? "peer.ipv6" : "peer.ipv4", c->rip, c->rip_len);
	span__tag_int(s, "peer.port", c->rport);
	span__tag_str(s, "peer.address", c->peer, c->peer_len);
	if (kind == SPAN_KIND_SERVER) {
		span__tag_str(s, "client.address", c->rip, c->rip_len);
		span__tag_int(s, "client.port", c->rport);
		span__tag_int(s, "server.port", c->lport);
	} else {
		span__tag_int(s, "server.port", c->rport);
	}
}

void span__error(struct span *s, const char *type, size_t len)
{
	s->error = true;
	span__tag_str(s, "error.type", type, len);
}

void span__emit(struct span *s)
{
	if (s->error)
		span__tag_bool(s, "error", true);
	alias__emit(s);
}

void span__deliver(struct span *s)
{
	stats.spans++;
	sink__emit_all(s);
}

void span__copy(struct span *dst, const struct span *src)
{
	memcpy(dst, src, offsetof(struct span, strbuf) + src->strused);
	for (uint32_t i = 0; i < dst->ntags; i++) {
		struct span_tag *t = &dst->tags[i];
		if (t->type == TAG_STR && t->s >= src->strbuf && t->s <= src->strbuf + SPAN_STRBUF)
			t->s = dst->strbuf + (t->s - src->strbuf);
	}
}

/* query parameter names whose values never leave the host */
static int secret_key(const char *k, size_t n)
{
	static const char *const words[] = {"token",   "password",  "passwd", "pwd",	    "secret", "key", "auth",
					    "session", "signature", "sig",    "credential", "code",   "jwt", "sso"};

	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t wl = strlen(words[w]);
		for (size_t i = 0; i + wl <= n; i++)
			if (strncasecmp(k + i, words[w], wl) == 0)
				return 1;
	}
	return 0;
}

size_t sanitize_target(char *out, size_t outlen, const char *t, size_t tlen)
{
	size_t o = 0, i = 0;
	const char *q = memchr(t, '?', tlen);
	size_t pathlen = q ? (size_t)(q - t) : tlen;

#define PUT(c)                          \
	do {                            \
		if (o + 1 < outlen)     \
			out[o++] = (c); \
	} while (0)
	for (; i < pathlen; i++)
		PUT(t[i]);
	if (q) {
		PUT('?');
		i = pathlen + 1;
		while (i <= tlen) {
			size_t start = i, eq = 0;
			while (i < tlen && t[i] != '&' && t[i] != '#') {
				if (!eq && t[i] == '=')
					eq = i;
				i++;
			}
			size_t klen = (eq ? eq : i) - start;
			for (size_t k = start; k < start + klen; k++)
				PUT(t[k]);
			if (eq) {
				PUT('=');
				if (secret_key(t + start, klen)) {
					PUT('?');
				} else {
					for (size_t k = eq + 1; k < i; k++)
						PUT(t[k]);
				}
			}
			if (i >= tlen || t[i] == '#')
				break;
			PUT('&');
			i++;
		}
	}
#undef PUT
	out[o] = 0;
	return o;
}
