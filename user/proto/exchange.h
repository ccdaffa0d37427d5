/* A request's life as the tracer sees it, shared by the protocol sessions:
 * conn/ keeps the bare request queue, and these wrap it with the trace
 * stage's calls (nesting, peer links, provisional traces), so that every
 * request is started, linked and released in the same places whatever the
 * protocol, and no queue operation has a side effect its name hides. */
#ifndef SPANTAP_EXCHANGE_H
#define SPANTAP_EXCHANGE_H

struct conn;
struct pending;

/* A connection was created (the session's init): its local address is an
 * address of this host. */
void exchange__conn_new(const struct conn *c);
/* A request has been parsed (tid, ts_start, ctx, fp set): fix its ids,
 * nest it under its thread's request and link it to its peer's. */
void exchange__start(struct conn *c, struct pending *p);
/* The oldest request leaves c's queue (answered or dropped); the caller
 * owns it and gives it back with exchange__end. */
struct pending *exchange__pop(struct conn *c);
/* However a request ends (answered, dropped, connection gone): its thread's
 * window closes, its provisional trace loses a reference, it is freed. */
void exchange__end(struct pending *p);
/* Ends every request still queued on c; a session's close calls it last,
 * so that the queue is empty when the connection table frees c. */
void exchange__drop_all(struct conn *c);

#endif
