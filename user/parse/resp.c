/* RESP parser (see resp.h). One byte-driven state machine handles both
 * directions; bulk payloads are walked by count, so a value larger than what
 * the kernel captured keeps the stream in step. */
#include "parse/resp.h"

#include "base/hash.h"

#include <string.h>

enum {
	R_TYPE, /* expecting a type byte */
	R_NUM,	/* digits of a count or length */
	R_NUM_LF,
	R_LINE, /* simple string, error, number... up to CR LF */
	R_LINE_LF,
	R_BULK, /* bulk payload */
	R_BULK_CR,
	R_BULK_LF,
	R_INLINE, /* inline command text up to LF */
};

void resp_parser_init(struct resp_parser *p, int inline_ok)
{
	memset(p, 0, offsetof(struct resp_parser, msg));
	p->inline_ok = (uint8_t)inline_ok;
	p->cur_arg = -1;
	p->msg.type = 0;
}

static void msg_reset(struct resp_parser *p, char type)
{
	p->msg.type = type;
	p->msg.count = 0;
	p->msg.nargs = 0;
	p->msg.line_len = 0;
	for (int i = 0; i < RESP_ARGS; i++) {
		p->msg.arg[i].len = 0;
		p->msg.arg[i].full_len = 0;
		p->msg.arg[i].hash = 0;
	}
}

static int is_aggregate(char t)
{
	return t == '*' || t == '%' || t == '~' || t == '>' || t == '|';
}

static int is_bulk(char t)
{
	return t == '$' || t == '!' || t == '=';
}

static int is_line(char t)
{
	return t == '+' || t == '-' || t == ':' || t == '_' || t == ',' || t == '#' || t == '(';
}

/* A value finished; returns 1 when that completed the top-level message. */
static int value_done(struct resp_parser *p)
{
	while (p->depth > 0) {
		uint16_t d = p->depth - 1;
		if (--p->left[d] > 0)
			return 0;
		p->depth--;
		/* an attribute annotates the value that follows it */
		if (p->attr[d])
			return 0;
	}
	return 1;
}

/* Index in msg.arg of the next element when it is a top-level argument. */
static int32_t arg_slot(struct resp_parser *p)
{
	if (p->depth != 1 || p->attr[0] || (p->msg.type != '*' && p->msg.type != '>'))
		return -1;
	int64_t idx = p->msg.count - p->left[0];
	return idx >= 0 && idx < RESP_ARGS ? (int32_t)idx : -1;
}

static void arg_begin(struct resp_parser *p, int32_t slot, uint64_t full_len)
{
	struct resp_arg *a = &p->msg.arg[slot];

	a->len = 0;
	a->full_len = full_len;
	a->hash = FNV_OFFSET;
	p->hash_ok = 1;
	if (p->msg.nargs < (uint32_t)slot + 1)
		p->msg.nargs = (uint32_t)slot + 1;
}

static void arg_bytes(struct resp_parser *p, const uint8_t *b, size_t n)
{
	struct resp_arg *a = &p->msg.arg[p->cur_arg];
	size_t room = sizeof(a->s) - a->len;

	memcpy(a->s + a->len, b, n < room ? n : room);
	a->len += (uint32_t)(n < room ? n : room);
	a->hash = fnv1a(a->hash, b, n);
}

/* The number of a count or length line is complete. */
static int num_done(struct resp_parser *p, char type)
{
	int64_t n = p->neg ? -p->num : p->num;

	if (!p->ndigits || (p->neg && n != -1))
		return -1;
	if (is_bulk(type)) {
		if (n < 0)
			return value_done(p); /* null bulk */
		/* a top-level bulk string (a reply) is kept as argument 0 */
		p->cur_arg = p->depth == 0 ? 0 : arg_slot(p);
		if (p->cur_arg >= 0)
			arg_begin(p, p->cur_arg, (uint64_t)n);
		p->bulk_left = (uint64_t)n;
		p->state = R_BULK;
		if (n == 0)
			p->state = R_BULK_CR;
		return 0;
	}
	/* aggregate */
	if (p->depth == 0)
		p->msg.count = n;
	if (n <= 0)
		return value_done(p);
	if (p->depth == RESP_MAX_DEPTH)
		return -1;
	if (type == '%' || type == '|')
		n *= 2;
	p->attr[p->depth] = type == '|';
	p->left[p->depth++] = n;
	return 0;
}

static void line_byte(struct resp_parser *p, uint8_t c)
{
	if (p->depth == 0 && p->msg.line_len < sizeof(p->msg.line))
		p->msg.line[p->msg.line_len++] = (char)c;
}

/* Inline command: words separated by blanks, the first RESP_ARGS kept. */
static void inline_byte(struct resp_parser *p, uint8_t c)
{
	if (c == ' ' || c == '\t') {
		p->cur_arg = -1;
		return;
	}
	if (p->cur_arg < 0) {
		if (p->msg.count >= RESP_ARGS) {
			p->msg.count++;
			return;
		}
		p->cur_arg = (int32_t)p->msg.count++;
		arg_begin(p, p->cur_arg, 0);
	}
	p->msg.arg[p->cur_arg].full_len++;
	arg_bytes(p, &c, 1);
}

ssize_t resp_feed(struct resp_parser *p, const uint8_t *buf, size_t len, struct resp_msg *out)
{
	size_t i = 0;
	int r;

	while (i < len) {
		uint8_t c = buf[i];
		switch (p->state) {
		case R_TYPE:
			i++;
			if (p->depth == 0)
				msg_reset(p, (char)c);
			p->bulk_type = c;
			p->num = 0;
			p->neg = 0;
			p->ndigits = 0;
			p->line_n = 0;
			if (is_aggregate((char)c) || is_bulk((char)c)) {
				p->state = R_NUM;
			} else if (is_line((char)c)) {
				p->state = R_LINE;
				p->cur_arg = arg_slot(p);
				if (p->cur_arg >= 0)
					arg_begin(p, p->cur_arg, 0);
			} else if (p->depth == 0 && p->inline_ok && c >= 0x21 && c < 0x7f) {
				msg_reset(p, 'I');
				p->state = R_INLINE;
				p->cur_arg = -1;
				inline_byte(p, c);
			} else if (p->depth == 0 && p->inline_ok && (c == '\n' || c == '\r')) {
				/* empty lines between inline commands */
			} else {
				return -1;
			}
			break;
		case R_NUM:
			i++;
			if (c >= '0' && c <= '9') {
				if (++p->ndigits > 18)
					return -1;
				p->num = p->num * 10 + (c - '0');
				/* the rest of the digits, without going round the switch */
				while (i < len && buf[i] >= '0' && buf[i] <= '9') {
					if (++p->ndigits > 18)
						return -1;
					p->num = p->num * 10 + (buf[i++] - '0');
				}
			} else if (c == '-' && !p->ndigits && !p->neg) {
				p->neg = 1;
			} else if (c == '\r') {
				p->state = R_NUM_LF;
				if (i < len && buf[i] == '\n') {
					i++;
					goto num_lf;
				}
			} else {
				return -1;
			}
			break;
		case R_NUM_LF:
			i++;
			if (c != '\n')
				return -1;
		num_lf:
			p->state = R_TYPE;
			r = num_done(p, (char)p->bulk_type);
			if (r < 0)
				return -1;
			if (r == 1)
				goto complete;
			break;
		case R_LINE:
			i++;
			if (c == '\r') {
				p->state = R_LINE_LF;
			} else if (c == '\n') {
				return -1;
			} else {
				line_byte(p, c);
				if (p->cur_arg >= 0) {
					p->msg.arg[p->cur_arg].full_len++;
					arg_bytes(p, &c, 1);
				}
			}
			break;
		case R_LINE_LF:
			i++;
			if (c != '\n')
				return -1;
			p->state = R_TYPE;
			p->cur_arg = -1;
			if (value_done(p))
				goto complete;
			break;
		case R_BULK: {
			size_t n = len - i;
			if (n > p->bulk_left)
				n = (size_t)p->bulk_left;
			if (p->cur_arg >= 0)
				arg_bytes(p, buf + i, n);
			p->bulk_left -= n;
			i += n;
			if (!p->bulk_left) {
				p->state = R_BULK_CR;
				if (i + 2 <= len && buf[i] == '\r' && buf[i + 1] == '\n') {
					i += 2;
					goto bulk_lf;
				}
			}
			break;
		}
		case R_BULK_CR:
			i++;
			if (c != '\r')
				return -1;
			p->state = R_BULK_LF;
			if (i < len && buf[i] == '\n') {
				i++;
				goto bulk_lf;
			}
			break;
		case R_BULK_LF:
			i++;
			if (c != '\n')
				return -1;
		bulk_lf:
			p->state = R_TYPE;
			if (p->cur_arg >= 0 && !p->hash_ok)
				p->msg.arg[p->cur_arg].hash = 0;
			p->cur_arg = -1;
			if (value_done(p))
				goto complete;
			break;
		case R_INLINE:
			i++;
			if (c == '\n') {
				p->state = R_TYPE;
				p->cur_arg = -1;
				if (p->msg.count > RESP_ARGS)
					p->msg.nargs = RESP_ARGS;
				goto complete;
			}
			if (c == '\r')
				break;
			if (c < 0x20 && c != '\t')
				return -1;
			if (++p->line_n > RESP_MAX_INLINE)
				return -1;
			inline_byte(p, c);
			break;
		default:
			return -1;
		}
		continue;
	complete:
		*out = p->msg;
		return (ssize_t)i;
	}
	return -2;
}

int resp_skip(struct resp_parser *p, uint64_t n, struct resp_msg *out)
{
	static const uint8_t crlf[2] = {'\r', '\n'};
	uint64_t tail;

	if (n == 0)
		return 0;
	if (p->state == R_BULK) {
		if (n <= p->bulk_left) {
			p->bulk_left -= n;
			p->hash_ok = 0;
			if (!p->bulk_left)
				p->state = R_BULK_CR;
			return 0;
		}
		n -= p->bulk_left;
		p->bulk_left = 0;
		p->hash_ok = 0;
		p->state = R_BULK_CR;
	}
	/* the skipped bytes may end with the CR LF closing a bulk string */
	if (p->state == R_BULK_CR)
		tail = 2;
	else if (p->state == R_BULK_LF)
		tail = 1;
	else
		return -1;
	if (n > tail)
		return -1;
	ssize_t r = resp_feed(p, crlf + (2 - tail), (size_t)n, out);
	if (r == -1)
		return -1;
	return r > 0 ? 1 : 0;
}
