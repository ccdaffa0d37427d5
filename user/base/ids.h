/* Ids: 128-bit trace ids and non-zero 64-bit span ids from a PRNG seeded
 * once from getrandom (fast; ids need not be secret). */
#ifndef SPANTAP_IDS_H
#define SPANTAP_IDS_H

#include <stdint.h>

void ids__init(void);
uint64_t ids__span_id(void);
void ids__trace_id(uint8_t out[16]);

#endif
