/* Linking across processes on one host: a server request whose connection
 * is, reversed, a traced client connection becomes the child of that
 * client's request, in its trace, whichever side's event arrives first. */
#ifndef SPANTAP_LINK_H
#define SPANTAP_LINK_H

#include <stdint.h>

struct conn;
struct pending;

enum link_state {
	LS_NONE = 0,
	LS_OPEN,   /* a client request no server request has claimed yet */
	LS_WAIT,   /* a server request waiting for its client's request */
	LS_LINKED, /* paired with its peer */
};

/* How long a server request waits for a local client's event (ns). */
#define LINK_WAIT_NS 200000000ULL

/* Learns the host's own addresses, so that only requests from local peers
 * wait for their client. */
void link__init(void);
/* Off: same-host links only through the TCP option (the kernel's context);
 * on by default, for peers whose packets carry none. */
void link__by_address(int on);
/* Forgets every request kept for a late peer (tests). */
void link__reset(void);
/* A connection was created: its local address is a local address. */
void link__conn_new(const struct conn *c);
/* p's ids were just fixed on c: link it to its peer request, if traced. */
void link__request(struct conn *c, struct pending *p);
/* p leaves c's queue (answered or dropped). */
void link__pending_out(const struct conn *c, const struct pending *p);

#endif
