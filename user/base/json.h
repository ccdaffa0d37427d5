/* A small JSON reader for the container runtimes' metadata files: no
 * allocation, values are slices of the caller's text, nesting bounded.
 * Enough to walk objects by key, iterate members and arrays, and copy
 * strings out unescaped. */
#ifndef SPANTAP_JSON_H
#define SPANTAP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 64

enum json_type { JSON_NONE = 0, JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_NUMBER, JSON_TRUE, JSON_FALSE, JSON_NULL };

/* a value: [p, p + len) of the text; a string's slice includes its quotes */
struct json_val {
	const char *p;
	size_t len;
	enum json_type type;
};

/* The document's single value (surrounding blanks allowed); 0 or -1 when
 * the text is not one well-formed JSON value. */
int json__parse(const char *text, size_t len, struct json_val *out);
/* The member key of object obj (its last one if repeated); 0 or -1. */
int json__member(const struct json_val *obj, const char *key, struct json_val *out);
/* json__member along a path of keys, NULL-terminated. */
int json__path(const struct json_val *obj, const char *const *keys, struct json_val *out);
/* Iteration over an object's members or an array's elements: *it starts at
 * 0; returns 1 with the next one (key is NULL for arrays), 0 at the end. */
int json__next(const struct json_val *v, size_t *it, struct json_val *key, struct json_val *val);
/* A string's value unescaped into out (NUL-terminated, cut to fit);
 * the length written, or -1 if v is not a string. */
int json__str(const struct json_val *v, char *out, size_t outlen);
/* Is string v equal to s (after unescaping)? */
bool json__str_eq(const struct json_val *v, const char *s);

#endif
