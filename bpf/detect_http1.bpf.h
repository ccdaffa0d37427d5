/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* HTTP/1.x from a message's first 8 bytes: a request method or a status
 * line. User space parses and validates; this only has to be cheap. */
#ifndef DETECT_HTTP1_BPF_H
#define DETECT_HTTP1_BPF_H

/* 1: a request, 2: a response, 0: not HTTP/1.x */
static __always_inline int detect_http1(const __u8 *b)
{
	__u32 w = b[0] | b[1] << 8 | b[2] << 16 | (__u32)b[3] << 24;

#define W(a, b, c, d) ((a) | (b) << 8 | (c) << 16 | (__u32)(d) << 24)
	switch (w) {
	case W('G', 'E', 'T', ' '):
	case W('P', 'O', 'S', 'T'):
	case W('P', 'U', 'T', ' '):
	case W('H', 'E', 'A', 'D'):
	case W('D', 'E', 'L', 'E'):
	case W('P', 'A', 'T', 'C'):
	case W('O', 'P', 'T', 'I'):
	case W('T', 'R', 'A', 'C'):
	case W('C', 'O', 'N', 'N'):
		return 1;
	case W('H', 'T', 'T', 'P'):
		return b[4] == '/' ? 2 : 0;
	}
#undef W
	return 0;
}

#endif
