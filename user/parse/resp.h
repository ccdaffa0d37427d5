/* Redis RESP2/RESP3 and inline-command parser. It is incremental: state lives
 * in the caller's struct resp_parser, nothing is allocated, and bulk strings
 * too large for the capture window are skipped by count. Of each top-level
 * message it keeps the type, the first arguments (truncated copies plus a
 * hash of each whole argument) and the text of a simple or error reply. */
#ifndef SPANTAP_REDIS_H
#define SPANTAP_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RESP_MAX_DEPTH 16
#define RESP_ARGS 3	      /* arguments of a top-level array that are kept */
#define RESP_ARG_CAP 128      /* bytes kept of each */
#define RESP_MAX_INLINE 65536 /* longest inline command line */

struct resp_arg {
	char s[RESP_ARG_CAP];
	uint32_t len;	   /* bytes kept in s */
	uint64_t full_len; /* the argument's length on the wire */
	uint64_t hash;	   /* FNV-1a of the whole argument; 0 when not all seen */
};

struct resp_msg {
	char type;	/* first byte: '*' '+' '-' ':' '$' '>' ... or 'I' inline */
	int64_t count;	/* elements of a top-level aggregate; -1 null */
	uint32_t nargs; /* arguments kept (at most RESP_ARGS) */
	struct resp_arg arg[RESP_ARGS];
	char line[RESP_ARG_CAP]; /* simple string / error / number text */
	uint32_t line_len;
};

struct resp_parser {
	uint8_t state;
	uint8_t inline_ok; /* commands may come as inline text lines */
	uint8_t neg;
	uint8_t ndigits;
	uint8_t bulk_type;
	uint8_t hash_ok;
	uint16_t depth;
	int64_t num;
	uint64_t bulk_left;
	int32_t cur_arg; /* index into msg.arg of the bulk being read, or -1 */
	uint32_t line_n;
	int64_t left[RESP_MAX_DEPTH]; /* elements still to come per level */
	uint8_t attr[RESP_MAX_DEPTH]; /* level is an attribute map */
	struct resp_msg msg;
};

void resp_parser_init(struct resp_parser *p, int inline_ok);
/* Feeds bytes; returns bytes consumed when a top-level message completed
 * (copied to *out), -2 when all of buf was consumed without completing one,
 * -1 when the bytes are not RESP. */
ssize_t resp_feed(struct resp_parser *p, const uint8_t *buf, size_t len, struct resp_msg *out);
/* n bytes were not captured: returns 1 if they completed a message (in
 * *out), 0 if they fell inside a bulk string, -1 when the position is lost. */
int resp_skip(struct resp_parser *p, uint64_t n, struct resp_msg *out);

#endif
