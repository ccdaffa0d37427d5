/* The protocol sessions, one per protocol the kernel classifies. */
#ifndef SPANTAP_SESSIONS_H
#define SPANTAP_SESSIONS_H

#include "conn/proto.h"

extern const struct proto_ops proto_http1;
extern const struct proto_ops proto_redis;

/* Hands every session to the connection table (after conn_table__init). */
void sessions__register(void);

#endif
