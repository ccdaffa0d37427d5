/* The JSON reader (json.h): a recursive-descent skipper that validates as it
 * goes, bounded by JSON_MAX_DEPTH; lookups skip whole values. */
#include "base/json.h"

#include <stdint.h>
#include <string.h>

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			if (++p >= end)
				return NULL;
			if (*p == 'u') {
				for (int i = 0; i < 4; i++) {
					char h = ++p < end ? *p : 0;
					if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
					      (h >= 'A' && h <= 'F')))
						return NULL;
				}
			} else if (!strchr("\"\\/bfnrt", *p) || !*p) {
				return NULL;
			}
		}
	}
	return NULL;
}

static const char *skip_number(const char *p, const char *end)
{
	const char *s;

	if (p < end && *p == '-')
		p++;
	s = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p == s)
		return NULL;
	if (p < end && *p == '.') {
		s = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		s = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	return p;
}

static const char *skip_value(const char *p, const char *end, int depth, enum json_type *type);

static const char *skip_container(const char *p, const char *end, int depth, char close)
{
	enum json_type t;

	if (depth >= JSON_MAX_DEPTH)
		return NULL;
	p = ws(p + 1, end);
	if (p < end && *p == close)
		return p + 1;
	for (;;) {
		if (close == '}') {
			if (p >= end || *p != '"' || !(p = skip_string(p, end)))
				return NULL;
			p = ws(p, end);
			if (p >= end || *p != ':')
				return NULL;
			p = ws(p + 1, end);
		}
		if (!(p = skip_value(p, end, depth + 1, &t)))
			return NULL;
		p = ws(p, end);
		if (p < end && *p == ',') {
			p = ws(p + 1, end);
			continue;
		}
		if (p < end && *p == close)
			return p + 1;
		return NULL;
	}
}

static const char *lit(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

static const char *skip_value(const char *p, const char *end, int depth, enum json_type *type)
{
	if (p >= end)
		return NULL;
	switch (*p) {
	case '{':
		*type = JSON_OBJECT;
		return skip_container(p, end, depth, '}');
	case '[':
		*type = JSON_ARRAY;
		return skip_container(p, end, depth, ']');
	case '"':
		*type = JSON_STRING;
		return skip_string(p, end);
	case 't':
		*type = JSON_TRUE;
		return lit(p, end, "true");
	case 'f':
		*type = JSON_FALSE;
		return lit(p, end, "false");
	case 'n':
		*type = JSON_NULL;
		return lit(p, end, "null");
	default:
		*type = JSON_NUMBER;
		return skip_number(p, end);
	}
}

int json__parse(const char *text, size_t len, struct json_val *out)
{
	const char *end = text + len, *p = ws(text, end), *q;

	if (!(q = skip_value(p, end, 0, &out->type)) || ws(q, end) != end) {
		out->type = JSON_NONE;
		return -1;
	}
	out->p = p;
	out->len = (size_t)(q - p);
	return 0;
}

/* members and elements of an already validated value: no error paths */
int json__next(const struct json_val *v, size_t *it, struct json_val *key, struct json_val *val)
{
	const char *end = v->p + v->len - 1, *p; /* end: the closing bracket */

	if (v->type != JSON_OBJECT && v->type != JSON_ARRAY)
		return 0;
	p = ws(v->p + (*it ? *it : 1), end);
	if (p < end && *p == ',')
		p = ws(p + 1, end);
	if (p >= end)
		return 0;
	if (v->type == JSON_OBJECT) {
		const char *k = p;
		p = skip_string(p, end);
		if (key) {
			key->p = k;
			key->len = (size_t)(p - k);
			key->type = JSON_STRING;
		}
		p = ws(ws(p, end) + 1, end); /* past ':' */
	} else if (key) {
		key->type = JSON_NONE;
		key->p = NULL;
		key->len = 0;
	}
	val->p = p;
	p = skip_value(p, end, 0, &val->type);
	val->len = (size_t)(p - val->p);
	*it = (size_t)(p - v->p);
	return 1;
}

int json__member(const struct json_val *obj, const char *key, struct json_val *out)
{
	struct json_val k, v, o = *obj; /* out may be obj */
	size_t it = 0;
	int found = -1;

	if (o.type != JSON_OBJECT)
		return -1;
	while (json__next(&o, &it, &k, &v))
		if (json__str_eq(&k, key)) {
			*out = v;
			found = 0;
		}
	return found;
}

int json__path(const struct json_val *obj, const char *const *keys, struct json_val *out)
{
	struct json_val cur = *obj, next;

	for (; *keys; keys++) {
		if (json__member(&cur, *keys, &next))
			return -1;
		cur = next;
	}
	*out = cur;
	return 0;
}

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* appends code point cp as UTF-8 if it fits */
static size_t put_utf8(char *o, size_t room, uint32_t cp)
{
	if (cp < 0x80 && room >= 1) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800 && room >= 2) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000 && room >= 3) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	if (cp >= 0x10000 && room >= 4) {
		o[0] = (char)(0xf0 | cp >> 18);
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		return 4;
	}
	return 0;
}

int json__str(const struct json_val *v, char *out, size_t outlen)
{
	const char *p, *end;
	size_t n = 0;

	if (v->type != JSON_STRING || !outlen)
		return -1;
	p = v->p + 1;
	end = v->p + v->len - 1;
	while (p < end && n + 1 < outlen) {
		if (*p != '\\') {
			out[n++] = *p++;
			continue;
		}
		p++;
		char c = *p++;
		if (c == 'u') {
			uint32_t cp =
				(uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
			p += 4;
			/* a surrogate pair */
			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
				uint32_t lo = (uint32_t)(hexval(p[2]) << 12 | hexval(p[3]) << 8 | hexval(p[4]) << 4 |
							 hexval(p[5]));
				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			size_t k = put_utf8(out + n, outlen - 1 - n, cp);
			if (!k)
				break;
			n += k;
			continue;
		}
		out[n++] = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
	}
	out[n] = 0;
	return (int)n;
}

bool json__str_eq(const struct json_val *v, const char *s)
{
	char buf[256];
	size_t sl = strlen(s);
	int n;

	if (v->type != JSON_STRING)
		return false;
	/* the common case: no escapes, compare in place */
	if (v->len == sl + 2 && memcmp(v->p + 1, s, sl) == 0)
		return true;
	if (!memchr(v->p, '\\', v->len) || sl >= sizeof(buf))
		return false;
	n = json__str(v, buf, sizeof(buf));
	return n >= 0 && (size_t)n == sl && memcmp(buf, s, sl) == 0;
}
