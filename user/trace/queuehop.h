/* The queue hop: a list pop (BRPOP, BLPOP, RPOP, LPOP, LMOVE...) whose reply
 * carries an item that a push (LPUSH, RPUSH...) seen earlier put on the list
 * follows from that push. A pop that starts no trace of its own (a worker's
 * loop) joins the push's trace; one made while serving a request keeps its
 * trace and gets a FOLLOWS_FROM reference to the push. Items are matched on
 * a hash of their bytes, in a bounded table; an item pushed twice before a
 * pop is ambiguous and links nothing. */
#ifndef SPANTAP_QUEUEHOP_H
#define SPANTAP_QUEUEHOP_H

#include <stdint.h>

struct conn;
struct pending;
struct resp_msg;

/* Pushes remembered (rounded up; default 16384). 0, or -1 (no memory). */
int queuehop__init(uint32_t max_pushes);
/* A command's request started (its ids are fixed). */
void queuehop__command(const struct conn *c, struct pending *p, const struct resp_msg *m, uint64_t ts);
/* Its span is about to be emitted, with its reply (NULL: none came). */
void queuehop__reply(const struct conn *c, struct pending *p, const struct resp_msg *m, uint64_t ts);
/* Gives back every record (for tests and exit). */
void queuehop__reset(void);

#endif
