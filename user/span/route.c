/* Route templates: ids in URL paths collapsed (route.h has the rules). */
#include "span/route.h"

#include <string.h>

static int ishex(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static int is_uuid(const char *s, size_t n)
{
	if (n != 36)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !ishex((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

static int seg_is_id(const char *s, size_t n)
{
	size_t digits = 0, hex = 0, odd = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= '0' && c <= '9')
			digits++;
		if (ishex(c))
			hex++;
		if (c == '@' || c == '%' || c == '=' || c <= ' ' || c >= 0x7f)
			odd++;
	}
	if (digits == n || is_uuid(s, n))
		return 1;
	if (hex == n && n >= 8 && digits)
		return 1;
	if (digits >= 4)
		return 1;
	return (n >= 24 && digits) || odd;
}

size_t route__collapse(char *out, size_t outlen, const char *path, size_t len)
{
	static const char more[] = "/{...}";
	size_t o = 0, i = 0, nseg = 0;

	if (outlen < 8) {
		if (outlen)
			out[0] = 0;
		return 0;
	}
	/* the path ends where the query or fragment starts */
	for (size_t k = 0; k < len; k++)
		if (path[k] == '?' || path[k] == '#') {
			len = k;
			break;
		}
	if (len == 1 && path[0] == '*') {
		memcpy(out, "*", 2);
		return 1;
	}
	/* absolute-form (a request to a proxy): scheme://authority/path */
	const char *sep = len > 3 ? memchr(path, ':', len < 9 ? len : 9) : NULL;
	if (sep && (size_t)(sep - path) + 3 <= len && sep[1] == '/' && sep[2] == '/') {
		const char *p = memchr(sep + 3, '/', len - (size_t)(sep + 3 - path));
		i = p ? (size_t)(p - path) : len;
	}
	while (i < len) {
		while (i < len && path[i] == '/')
			i++;
		if (i == len)
			break;
		size_t start = i, end;
		while (i < len && path[i] != '/')
			i++;
		end = i;
		const char *semi = memchr(path + start, ';', end - start);
		if (semi)
			end = (size_t)(semi - path);
		const char *seg = path + start;
		size_t n = end - start;
		if (seg_is_id(seg, n)) {
			seg = "{id}";
			n = 4;
		}
		/* room for this segment and, after it, for "/{...}" */
		if (nseg == ROUTE_MAX_SEGMENTS || o + 1 + n + sizeof(more) > outlen) {
			memcpy(out + o, more, sizeof(more));
			return o + sizeof(more) - 1;
		}
		out[o++] = '/';
		memcpy(out + o, seg, n);
		o += n;
		nseg++;
	}
	/* a trailing slash is kept: /a/ and /a are different routes to many servers */
	if (o == 0 || (len && path[len - 1] == '/'))
		out[o++] = '/';
	out[o] = 0;
	return o;
}
