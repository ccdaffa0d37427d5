/* HTTP/1.x parser: request and status lines, header fields, body framing
 * (RFC 9112 sections 3, 4, 5, 6 and 7.1) and a chunked-body delimiter. It is
 * strict about structure and lenient only where real peers differ (bare LF
 * line ends, obsolete line folding is refused). */
#include "parse/http1.h"

#include <string.h>
#include <strings.h>

/* token characters (RFC 9110 5.6.2) */
static const uint8_t tchar[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1,
	['%'] = 1,	   ['&'] = 1,	      ['\''] = 1,	 ['*'] = 1, ['+'] = 1, ['-'] = 1,
	['.'] = 1,	   ['^'] = 1,	      ['_'] = 1,	 ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

static int is_tchar(unsigned char c)
{
	return tchar[c];
}

/* visible ASCII, space, tab and obs-text; never CR, LF or other controls */
static int is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* eight bytes with none below 0x20 and none 0x7f */
static int word_field_chars(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t del = x ^ (0x7f * ones);

	return !(((x - 0x20 * ones) & ~x & high) || ((del - ones) & ~del & high));
}

/* p[0..n) are all field characters: eight at a time, the last eight
 * overlapping, while none is below 0x20 or 0x7f (a tab, rare, takes the
 * byte-by-byte way) */
static int all_field_chars(const char *p, size_t n)
{
	size_t i = 0;
	uint64_t x;

	if (n >= 8) {
		for (; i + 8 <= n; i += 8) {
			memcpy(&x, p + i, 8);
			if (!word_field_chars(x))
				goto bytes;
		}
		memcpy(&x, p + n - 8, 8);
		if (word_field_chars(x))
			return 1;
		i = n - 8;
	}
bytes:
	for (; i < n; i++)
		if (!is_field_char((unsigned char)p[i]))
			return 0;
	return 1;
}

/* Finds the end of the line starting at p: returns the index just past the
 * LF and sets *eol to the line length without CR LF; -2 incomplete. */
static long line_end(const char *p, size_t len, size_t *eol)
{
	const char *lf = memchr(p, '\n', len);

	if (!lf)
		return -2;
	*eol = (size_t)(lf - p);
	if (*eol && p[*eol - 1] == '\r')
		(*eol)--;
	return lf - p + 1;
}

static int parse_version(const char *p, size_t len, int *minor)
{
	if (len != 8 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9')
		return -1;
	*minor = p[7] - '0';
	return 0;
}

/* p[0..n) equals the lowercase literal, ignoring case; p is a token (no
 * control characters) and every byte of the literal (a lowercase letter, a
 * digit or '-') has 0x20 set, so folding with 0x20 can only match a letter's
 * case. Eight bytes at a time, the last eight overlapping. */
static int name_is(const char *p, const char *lit, size_t n)
{
	const uint64_t fold = 0x2020202020202020ULL;
	uint64_t a, b;
	size_t i = 0;

	if (n < 8) {
		for (; i < n; i++)
			if (((unsigned char)p[i] | 0x20) != (unsigned char)lit[i])
				return 0;
		return 1;
	}
	for (; i + 8 < n; i += 8) {
		memcpy(&a, p + i, 8);
		memcpy(&b, lit + i, 8);
		if ((a | fold) != b)
			return 0;
	}
	memcpy(&a, p + n - 8, 8);
	memcpy(&b, lit + n - 8, 8);
	return (a | fold) == b;
}

static int known_header(const char *p, size_t n)
{
	char c = (char)(p[0] | 0x20);

	switch (n) {
	case 2:
		return name_is(p, "b3", 2) ? H1_B3 : -1;
	case 4:
		return name_is(p, "host", 4) ? H1_HOST : -1;
	case 10:
		return name_is(p, "user-agent", 10) ? H1_USER_AGENT : -1;
	case 11:
		if (c == 't')
			return name_is(p, "traceparent", 11) ? H1_TRACEPARENT : -1;
		return name_is(p, "x-b3-spanid", 11) ? H1_X_B3_SPANID : -1;
	case 12:
		if (name_is(p, "x-b3-", 5)) {
			if (name_is(p + 5, "traceid", 7))
				return H1_X_B3_TRACEID;
			if (name_is(p + 5, "sampled", 7))
				return H1_X_B3_SAMPLED;
		}
		return -1;
	case 13:
		return name_is(p, "uber-trace-id", 13) ? H1_UBER_TRACE_ID : -1;
	case 14:
		return name_is(p, "content-length", 14) ? H1_CONTENT_LENGTH : -1;
	case 17:
		if (c == 't')
			return name_is(p, "transfer-encoding", 17) ? H1_TRANSFER_ENCODING : -1;
		return name_is(p, "x-b3-parentspanid", 17) ? H1_X_B3_PARENTSPANID : -1;
	}
	return -1;
}

/* Header fields up to and including the empty line; returns bytes consumed. */
static int parse_headers(const char *buf, size_t len, size_t off, struct http1_head *h)
{
	h->num_headers = 0;
	for (;;) {
		size_t eol, i, n;
		long next = line_end(buf + off, len - off, &eol);
		const char *p = buf + off;

		if (next < 0) {
			/* reject garbage early instead of waiting for a LF forever */
			for (i = 0; i < len - off; i++)
				if (!is_field_char((unsigned char)p[i]) && p[i] != '\r')
					return -1;
			return -2;
		}
		if (eol == 0)
			return (int)(off + next);
		if (h->num_headers == HTTP1_MAX_HEADERS)
			return -1;
		/* a token, then ':' (p[eol] is CR or LF: not a token) */
		for (n = 0; n + 4 <= eol && (tchar[(unsigned char)p[n]] & tchar[(unsigned char)p[n + 1]] &
					     tchar[(unsigned char)p[n + 2]] & tchar[(unsigned char)p[n + 3]]);
		     n += 4)
			;
		for (; is_tchar((unsigned char)p[n]); n++)
			;
		if (n == 0 || n == eol || p[n] != ':')
			return -1;
		struct http1_header *f = &h->headers[h->num_headers++];
		f->name.p = p;
		f->name.len = n;
		int k = known_header(p, n);
		if (k >= 0) {
			if (h->known[k])
				h->repeated |= (uint16_t)(1u << k);
			else
				h->known[k] = (uint8_t)h->num_headers;
		}
		i = n + 1;
		while (i < eol && (p[i] == ' ' || p[i] == '\t'))
			i++;
		size_t end = eol;
		while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\t'))
			end--;
		if (!all_field_chars(p + i, end - i))
			return -1;
		f->value.p = p + i;
		f->value.len = end - i;
		off += (size_t)next;
		if (off > 0x7fffffff)
			return -1;
	}
}

int http1_parse_request(const char *buf, size_t len, struct http1_head *h)
{
	size_t eol, i = 0, sp1, sp2;
	long next;

	memset(h, 0, offsetof(struct http1_head, headers));
	/* RFC 9112 2.2: ignore at least one empty line before a request */
	while (i < len && (buf[i] == '\r' || buf[i] == '\n') && i < 4)
		i++;
	buf += i;
	len -= i;
	/* method: a token followed by one space */
	for (sp1 = 0; sp1 < len && buf[sp1] != ' '; sp1++)
		if (!is_tchar((unsigned char)buf[sp1]) || sp1 >= 20)
			return -1;
	next = line_end(buf, len, &eol);
	if (next < 0) {
		for (size_t k = sp1; k < len; k++)
			if (!is_field_char((unsigned char)buf[k]) && buf[k] != '\r')
				return -1;
		return -2;
	}
	if (sp1 == 0 || sp1 >= eol)
		return -1;
	for (sp2 = sp1 + 1; sp2 < eol && buf[sp2] != ' '; sp2++)
		if ((unsigned char)buf[sp2] <= 0x20 || buf[sp2] == 0x7f)
			return -1;
	if (sp2 == sp1 + 1 || sp2 >= eol)
		return -1;
	if (parse_version(buf + sp2 + 1, eol - sp2 - 1, &h->minor_version))
		return -1;
	h->method.p = buf;
	h->method.len = sp1;
	h->target.p = buf + sp1 + 1;
	h->target.len = sp2 - sp1 - 1;
	int r = parse_headers(buf, len, (size_t)next, h);
	return r > 0 ? r + (int)i : r;
}

int http1_parse_response(const char *buf, size_t len, struct http1_head *h)
{
	size_t eol;
	long next;

	memset(h, 0, offsetof(struct http1_head, headers));
	/* "HTTP/1.x NNN" must be there before anything else counts */
	for (size_t k = 0; k < len && k < 12; k++) {
		static const char pre[] = "HTTP/1.";
		char c = buf[k];
		if (k < 7 ? c != pre[k] : k == 8 ? c != ' ' : (c < '0' || c > '9'))
			return -1;
	}
	next = line_end(buf, len, &eol);
	if (next < 0)
		return len > 8192 ? -1 : -2;
	if (eol < 12 || (eol > 12 && buf[12] != ' '))
		return -1;
	if (parse_version(buf, 8, &h->minor_version))
		return -1;
	h->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (h->status < 100)
		return -1;
	h->reason.p = buf + (eol > 12 ? 13 : 12);
	h->reason.len = eol > 12 ? eol - 13 : 0;
	for (size_t k = 0; k < h->reason.len; k++)
		if (!is_field_char((unsigned char)h->reason.p[k]))
			return -1;
	return parse_headers(buf, len, (size_t)next, h);
}

int http1_slice_eq(struct http1_slice s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

const struct http1_slice *http1_header(const struct http1_head *h, const char *name)
{
	for (size_t i = 0; i < h->num_headers; i++)
		if (http1_slice_eq(h->headers[i].name, name))
			return &h->headers[i].value;
	return NULL;
}

static int parse_length(struct http1_slice v, uint64_t *out)
{
	uint64_t n = 0;

	if (v.len == 0 || v.len > 18)
		return -1;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v.p[i] - '0');
	}
	*out = n;
	return 0;
}

/* Transfer-Encoding ends in "chunked" (RFC 9112 6.1)? */
static int ends_chunked(struct http1_slice v)
{
	while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
		v.len--;
	return v.len >= 7 && strncasecmp(v.p + v.len - 7, "chunked", 7) == 0 &&
	       (v.len == 7 || v.p[v.len - 8] == ',' || v.p[v.len - 8] == ' ');
}

enum http1_body http1_body_kind(const struct http1_head *h, int is_response, struct http1_slice req_method,
				uint64_t *len)
{
	const struct http1_slice *te = NULL, *cl = NULL;
	uint64_t n;

	*len = 0;
	if (is_response) {
		if ((h->status >= 100 && h->status < 200) || h->status == 204 || h->status == 304)
			return HTTP1_BODY_NONE;
		if (http1_slice_eq(req_method, "HEAD"))
			return HTTP1_BODY_NONE;
		if (http1_slice_eq(req_method, "CONNECT") && h->status >= 200 && h->status < 300)
			return HTTP1_BODY_UNTIL_CLOSE;
	}
	if (!(h->repeated & (1u << H1_TRANSFER_ENCODING | 1u << H1_CONTENT_LENGTH))) {
		/* each at most once: found while parsing */
		te = http1_header_known(h, H1_TRANSFER_ENCODING);
		cl = http1_header_known(h, H1_CONTENT_LENGTH);
	} else {
		for (size_t i = 0; i < h->num_headers; i++) {
			const struct http1_header *f = &h->headers[i];
			if (http1_slice_eq(f->name, "transfer-encoding"))
				te = &f->value;
			else if (http1_slice_eq(f->name, "content-length")) {
				/* repeated Content-Length must agree */
				if (cl && (parse_length(*cl, &n) || parse_length(f->value, len) || n != *len))
					return HTTP1_BODY_INVALID;
				cl = &f->value;
			}
		}
	}
	if (te) {
		if (ends_chunked(*te))
			return HTTP1_BODY_CHUNKED;
		/* a request must be chunked if it has a transfer coding */
		return is_response ? HTTP1_BODY_UNTIL_CLOSE : HTTP1_BODY_INVALID;
	}
	if (cl) {
		if (parse_length(*cl, len))
			return HTTP1_BODY_INVALID;
		return *len ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
	}
	return is_response ? HTTP1_BODY_UNTIL_CLOSE : HTTP1_BODY_NONE;
}

enum {
	CH_SIZE, /* hex digits of the chunk size */
	CH_EXT,	 /* chunk extension up to the line end */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, /* start of a trailer line or the final empty line */
	CH_TRAILER,
	CH_END_LF,
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		char ch = buf[i];
		switch (c->state) {
		case CH_SIZE: {
			int v = hexval(ch);
			if (v >= 0) {
				if (c->digits++ >= 15)
					return -1;
				c->remaining = c->remaining * 16 + (uint64_t)v;
				i++;
				break;
			}
			if (c->digits == 0)
				return -1;
			if (ch == ';' || ch == ' ' || ch == '\t')
				c->state = CH_EXT;
			else if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				goto size_done;
			else
				return -1;
			i++;
			break;
		}
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				goto size_done;
			else if (!is_field_char((unsigned char)ch))
				return -1;
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -1;
		size_done:
			i++;
			c->digits = 0;
			c->state = c->remaining ? CH_DATA : CH_TRAILER_START;
			break;
		case CH_DATA: {
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			c->remaining -= n;
			i += n;
			if (!c->remaining)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch == '\r')
				c->state = CH_DATA_LF;
			else if (ch == '\n')
				c->state = CH_SIZE;
			else
				return -1;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -1;
			c->state = CH_SIZE;
			i++;
			break;
		case CH_TRAILER_START:
			i++;
			if (ch == '\r') {
				c->state = CH_END_LF;
			} else if (ch == '\n') {
				c->state = CH_SIZE;
				return (ssize_t)i;
			} else if (is_tchar((unsigned char)ch)) {
				c->state = CH_TRAILER;
			} else {
				return -1;
			}
			break;
		case CH_TRAILER:
			if (ch == '\n')
				c->state = CH_TRAILER_START;
			else if (ch != '\r' && !is_field_char((unsigned char)ch))
				return -1;
			i++;
			break;
		case CH_END_LF:
			if (ch != '\n')
				return -1;
			c->state = CH_SIZE;
			return (ssize_t)(i + 1);
		default:
			return -1;
		}
	}
	return -2;
}

int http1_chunked_skip(struct http1_chunked *c, uint64_t n)
{
	if (c->state != CH_DATA || n > c->remaining)
		return -1;
	c->remaining -= n;
	if (!c->remaining)
		c->state = CH_DATA_CR;
	return 0;
}
