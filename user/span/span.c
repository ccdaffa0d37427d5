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
	s->begin_key = c->serial ? c->serial << 2 | (uint64_t)kind : 0;
	s->nbegin = s->ntags;
}

void span__error(struct span *s, const char *type, size_t len)
{
	s->error = true;
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
