/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Redis from a message's first bytes: a RESP command is an array of bulk
 * strings, "*<n>\r\n$". Replies are recognised by the connection's role. */
#ifndef DETECT_REDIS_BPF_H
#define DETECT_REDIS_BPF_H

static __always_inline bool is_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

static __always_inline bool detect_redis_command(const __u8 *b)
{
	return b[0] == '*' && is_digit(b[1]) && (b[2] == '\r' || (is_digit(b[2]) && (b[3] == '\r' || is_digit(b[3]))));
}

#endif
