/* Span assembly helpers shared by all protocols: peer tags, bounded tag
 * storage and URL sanitizing. */
#include "span/span.h"

#include "base/clock.h"
#include "base/procinfo.h"
#include "conn/conn.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

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

void span__tag_strk_slow(struct span *s, const char *key, size_t klen, const char *v, size_t len)
{
	struct span_tag *t = tag_new(s, key, klen, TAG_STR);

	if (t) {
		t->s = strbuf_put(s, v, len, &t->slen);
		s->tagbytes += (uint32_t)klen + t->slen;
		if (t->slen > s->maxslen)
			s->maxslen = t->slen;
	}
}

void span__tag_intk_slow(struct span *s, const char *key, size_t klen, int64_t v)
{
	struct span_tag *t = tag_new(s, key, klen, TAG_INT);

	if (t) {
		t->i = v;
		s->tagbytes += (uint32_t)klen;
	}
}

void span__tag_boolk(struct span *s, const char *key, size_t klen, bool v)
{
	struct span_tag *t = tag_new(s, key, klen, TAG_BOOL);

	if (t) {
		t->i = v;
		s->tagbytes += (uint32_t)klen;
	}
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
	s->error = false;
	s->follows_id = 0;
	s->mark = (struct span_marks){0};
	s->name[0] = 0;
	s->kind = (uint8_t)kind;
	s->pid = c->tgid;
	s->tid = tid;
	if (end_mono < start_mono)
		end_mono = start_mono;
	s->start_ns = clock__to_wall(start_mono);
	s->end_ns = s->start_ns + (end_mono - start_mono);
	s->service = procinfo__service(c->tgid, c->comm);

	/* the tags written in place: nothing to check on an empty span, and
	 * each address copied once for the tags that share it. strused ends
	 * where one copy per tag would have left it, so a span whose later
	 * values overflow strbuf is cut exactly where it always was. */
	struct span_tag *t = s->tags;
	char *rip = s->strbuf, *lip = rip + c->rip_len, *peer = lip + c->lip_len;
	uint32_t tb = 0, mx = 6; /* "server", "client" */

	memcpy(rip, c->rip, c->rip_len);
	memcpy(lip, c->lip, c->lip_len);
	memcpy(peer, c->peer, c->peer_len);
#define BEGIN_STR(k, kl, v, n)                                                                              \
	do {                                                                                                \
		*t++ = (struct span_tag){.key = (k), .klen = (kl), .type = TAG_STR, .s = (v), .slen = (n)}; \
		tb += (kl) + (n);                                                                           \
		if ((n) > mx)                                                                               \
			mx = (n);                                                                           \
	} while (0)
#define BEGIN_INT(k, v)                                                                                 \
	do {                                                                                            \
		*t++ = (struct span_tag){.key = (k), .klen = sizeof(k) - 1, .type = TAG_INT, .i = (v)}; \
		tb += sizeof(k) - 1;                                                                    \
	} while (0)
	BEGIN_STR("span.kind", 9, kind == SPAN_KIND_SERVER ? "server" : "client", 6u);
	BEGIN_STR("network.transport", 17, "tcp", 3u);
	BEGIN_STR("network.type", 12, c->v6 ? "ipv6" : "ipv4", 4u);
	BEGIN_STR("network.peer.address", 20, rip, c->rip_len);
	BEGIN_INT("network.peer.port", c->rport);
	BEGIN_STR("network.local.address", 21, lip, c->lip_len);
	BEGIN_INT("network.local.port", c->lport);
	BEGIN_STR(c->v6 ? "peer.ipv6" : "peer.ipv4", 9, rip, c->rip_len);
	BEGIN_INT("peer.port", c->rport);
	BEGIN_STR("peer.address", 12, peer, c->peer_len);
	if (kind == SPAN_KIND_SERVER) {
		BEGIN_STR("client.address", 14, rip, c->rip_len);
		BEGIN_INT("client.port", c->rport);
		BEGIN_INT("server.port", c->lport);
	} else {
		BEGIN_INT("server.port", c->rport);
	}
#undef BEGIN_STR
#undef BEGIN_INT
	s->ntags = (uint32_t)(t - s->tags);
	s->strused =
		6 + 3 + 4 + 2u * c->rip_len + c->lip_len + c->peer_len + (kind == SPAN_KIND_SERVER ? c->rip_len : 0u);
	s->tagbytes = tb;
	s->maxslen = mx;
	s->begin_key = c->serial ? c->serial << 2 | (uint64_t)kind : 0;
	s->nbegin = s->ntags;
}

void span__error(struct span *s, const char *type, size_t len)
{
	s->error = true;
	if (!s->mark.error)
		SPAN_MARK(s, error);
	span__tag_str(s, "error.type", type, len);
}

void span__finish(struct span *s)
{
	if (s->error)
		span__tag_bool(s, "error", true);
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

/* query parameter names whose values never leave the host: every position
 * is tried only against the words that start with its letter (the words are
 * lowercase letters, so folding with 0x20 matches either case and nothing
 * else) */
static int secret_key(const char *k, size_t n)
{
	static const struct {
		const char *w;
		size_t len;
	} words[] = {
#define W(s) {s, sizeof(s) - 1}
		W("token"),   W("password"),  W("passwd"), W("pwd"),	    W("secret"), W("key"), W("auth"),
		W("session"), W("signature"), W("sig"),	   W("credential"), W("code"),	 W("jwt"), W("sso"),
#undef W
	};

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i] | 0x20;
		if (c < 'a' || c > 'z')
			continue;
		for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
			size_t wl = words[w].len, j = 1;
			if ((unsigned char)words[w].w[0] != c || wl > n - i)
				continue;
			while (j < wl && ((unsigned char)k[i + j] | 0x20) == (unsigned char)words[w].w[j])
				j++;
			if (j == wl)
				return 1;
		}
	}
	return 0;
}

/* out[*o..) gets what fits of v[0..n), always leaving room for the NUL */
static void put_n(char *out, size_t outlen, size_t *o, const char *v, size_t n)
{
	size_t room = outlen - 1 - *o;

	if (n > room)
		n = room;
	memcpy(out + *o, v, n);
	*o += n;
}

size_t sanitize_target(char *out, size_t outlen, const char *t, size_t tlen)
{
	size_t o = 0, i = 0;
	const char *q = memchr(t, '?', tlen);
	size_t pathlen = q ? (size_t)(q - t) : tlen;

	if (outlen == 0)
		return 0;
#define PUT(c)                          \
	do {                            \
		if (o + 1 < outlen)     \
			out[o++] = (c); \
	} while (0)
	put_n(out, outlen, &o, t, pathlen);
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
			put_n(out, outlen, &o, t + start, klen);
			if (eq) {
				PUT('=');
				if (secret_key(t + start, klen))
					PUT('?');
				else
					put_n(out, outlen, &o, t + eq + 1, i - eq - 1);
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
