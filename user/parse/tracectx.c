/* Trace-context header parsers (see tracectx.h), following the W3C Trace
 * Context recommendation, Jaeger's propagation format and B3's. */
#include "parse/tracectx.h"

#include "parse/http1.h"

#include <string.h>

static int hexval(char c, int lower_only)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (!lower_only && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n hex digits (n <= 32) right-aligned into a big-endian id of idlen bytes */
static int hex_id(const char *s, size_t n, uint8_t *id, size_t idlen, int lower_only)
{
	if (n == 0 || n > idlen * 2)
		return -1;
	memset(id, 0, idlen);
	for (size_t i = 0; i < n; i++) {
		int v = hexval(s[n - 1 - i], lower_only);
		if (v < 0)
			return -1;
		id[idlen - 1 - i / 2] |= (uint8_t)(i % 2 ? v << 4 : v);
	}
	return 0;
}

static int all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static uint64_t be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static int span_id(const char *s, size_t n, uint64_t *out, int lower_only)
{
	uint8_t b[8];

	if (hex_id(s, n, b, 8, lower_only))
		return -1;
	*out = be64(b);
	return 0;
}

int tracectx_parse_traceparent(const char *v, size_t len, struct trace_ctx *out)
{
	int ver_hi, ver_lo, f_hi, f_lo;

	memset(out, 0, sizeof(*out));
	/* version "-" trace-id(32) "-" parent-id(16) "-" flags(2) = 55 */
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (len < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-')
		return -1;
	ver_hi = hexval(v[0], 1);
	ver_lo = hexval(v[1], 1);
	if (ver_hi < 0 || ver_lo < 0 || (ver_hi == 15 && ver_lo == 15))
		return -1;
	/* version 00 has nothing after the flags; later versions may add
	 * fields after a '-' */
	if ((ver_hi == 0 && ver_lo == 0 && len != 55) || (len > 55 && v[55] != '-'))
		return -1;
	if (hex_id(v + 3, 32, out->trace_id, 16, 1) || all_zero(out->trace_id, 16))
		return -1;
	if (span_id(v + 36, 16, &out->span_id, 1) || !out->span_id)
		return -1;
	f_hi = hexval(v[53], 1);
	f_lo = hexval(v[54], 1);
	if (f_hi < 0 || f_lo < 0)
		return -1;
	out->sampled = (uint8_t)(f_lo & 1);
	out->source = TCTX_TRACEPARENT;
	return 0;
}

int tracectx_parse_uber(const char *v, size_t len, struct trace_ctx *out)
{
	char buf[128];
	size_t n = 0, f[4] = {0}, flen[4] = {0}, k = 0;

	memset(out, 0, sizeof(*out));
	/* clients may URL-encode the colons */
	for (size_t i = 0; i < len; i++) {
		if (n == sizeof(buf))
			return -1;
		if (v[i] == '%' && i + 2 < len && v[i + 1] == '3' && (v[i + 2] == 'A' || v[i + 2] == 'a')) {
			buf[n++] = ':';
			i += 2;
		} else {
			buf[n++] = v[i];
		}
	}
	for (size_t i = 0; i <= n; i++) {
		if (i == n || buf[i] == ':') {
			if (k == 4)
				return -1;
			flen[k] = i - f[k];
			k++;
			if (k < 4)
				f[k] = i + 1;
		}
	}
	if (k != 4)
		return -1;
	if (hex_id(buf + f[0], flen[0], out->trace_id, 16, 0) || all_zero(out->trace_id, 16))
		return -1;
	if (span_id(buf + f[1], flen[1], &out->span_id, 0) || !out->span_id)
		return -1;
	if (span_id(buf + f[2], flen[2], &out->parent_id, 0))
		return -1;
	uint64_t flags;
	if (span_id(buf + f[3], flen[3], &flags, 0))
		return -1;
	out->sampled = flags & 1;
	out->source = TCTX_UBER;
	return 0;
}

static int sampling(const char *s, size_t n, uint8_t *out)
{
	if (n == 1 && (s[0] == '0' || s[0] == '1' || s[0] == 'd')) {
		*out = s[0] != '0';
		return 0;
	}
	if (n == 4 && memcmp(s, "true", 4) == 0) {
		*out = 1;
		return 0;
	}
	if (n == 5 && memcmp(s, "false", 5) == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

static int b3_trace(const char *s, size_t n, struct trace_ctx *out)
{
	if ((n != 16 && n != 32) || hex_id(s, n, out->trace_id, 16, 1) || all_zero(out->trace_id, 16))
		return -1;
	return 0;
}

int tracectx_parse_b3(const char *v, size_t len, struct trace_ctx *out)
{
	const char *p[4];
	size_t pl[4], k = 0, start = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i <= len; i++) {
		if (i == len || v[i] == '-') {
			if (k == 4)
				return -1;
			p[k] = v + start;
			pl[k++] = i - start;
			start = i + 1;
		}
	}
	/* "0", "1", "d" alone: a sampling decision, no context */
	if (k < 2 || b3_trace(p[0], pl[0], out))
		return -1;
	if (pl[1] != 16 || span_id(p[1], 16, &out->span_id, 1) || !out->span_id)
		return -1;
	out->sampled = 1;
	if (k >= 3 && sampling(p[2], pl[2], &out->sampled))
		return -1;
	if (k == 4 && (pl[3] != 16 || span_id(p[3], 16, &out->parent_id, 1)))
		return -1;
	out->source = TCTX_B3;
	return 0;
}

int tracectx_parse_b3_multi(const char *trace, size_t tlen, const char *span, size_t slen, const char *parent,
			    size_t plen, const char *sampled, size_t sdlen, struct trace_ctx *out)
{
	memset(out, 0, sizeof(*out));
	if (!trace || !span || b3_trace(trace, tlen, out))
		return -1;
	if (slen != 16 || span_id(span, 16, &out->span_id, 1) || !out->span_id)
		return -1;
	if (parent && (plen != 16 || span_id(parent, 16, &out->parent_id, 1)))
		return -1;
	out->sampled = 1;
	if (sampled && sampling(sampled, sdlen, &out->sampled))
		return -1;
	out->source = TCTX_B3_MULTI;
	return 0;
}

void tracectx_from_head(const struct http1_head *h, struct trace_ctx *out)
{
	const struct http1_slice *v, *t, *s, *p, *sd;

	memset(out, 0, sizeof(*out));
	if ((v = http1_header_known(h, H1_TRACEPARENT)) && tracectx_parse_traceparent(v->p, v->len, out) == 0)
		return;
	if ((v = http1_header_known(h, H1_UBER_TRACE_ID)) && tracectx_parse_uber(v->p, v->len, out) == 0)
		return;
	if ((v = http1_header_known(h, H1_B3)) && tracectx_parse_b3(v->p, v->len, out) == 0)
		return;
	t = http1_header_known(h, H1_X_B3_TRACEID);
	s = http1_header_known(h, H1_X_B3_SPANID);
	p = http1_header_known(h, H1_X_B3_PARENTSPANID);
	sd = http1_header_known(h, H1_X_B3_SAMPLED);
	if (t && s &&
	    tracectx_parse_b3_multi(t->p, t->len, s->p, s->len, p ? p->p : NULL, p ? p->len : 0, sd ? sd->p : NULL,
				    sd ? sd->len : 0, out) == 0)
		return;
	memset(out, 0, sizeof(*out));
}
