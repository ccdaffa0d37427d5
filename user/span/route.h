/* Route templates from URL paths: the ids in a path collapsed, so that
 * /repos/1234/widgets and /repos/5678/widgets are one operation,
 * /repos/{id}/widgets. A heuristic (spantap does not know the server's
 * routing table): it bounds the cardinality of span-derived metrics and
 * profiles, and never lets a query string or path parameter through. */
#ifndef SPANTAP_ROUTE_H
#define SPANTAP_ROUTE_H

#include <stddef.h>

#define ROUTE_MAX 128	     /* bytes of a route, NUL included */
#define ROUTE_MAX_SEGMENTS 8 /* more are collapsed into one "/{...}" */

/* Writes the route of path[0..len) into out (at most outlen - 1 bytes and
 * a NUL; outlen >= 8) and returns its length. The path ends at '?' or '#';
 * an absolute-form target (http://host/p) keeps only its path; ";params"
 * are dropped from each segment; a segment becomes {id} when it is
 *   - a number (digits only), or a UUID,
 *   - hex of 8 or more characters with a digit in it (hashes, object ids),
 *   - anything with 4 or more digits (dates, user_1234, 2024-01-01),
 *   - 24 characters or longer with a digit in it (tokens),
 *   - anything with '@', '%' or '=' in it (e-mail addresses, encoded values),
 *     or a byte that is not printable ASCII;
 * v1, oauth2, sha256, index.html stay as they are. A route that does not
 * fit ends in "/{...}". The empty path is "/"; "*" (OPTIONS) stays "*". */
size_t route__collapse(char *out, size_t outlen, const char *path, size_t len);

#endif
