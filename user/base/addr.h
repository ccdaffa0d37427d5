/* IP addresses as the kernel reports them: 16 bytes and a family. */
#ifndef SPANTAP_ADDR_H
#define SPANTAP_ADDR_H

#include <stddef.h>
#include <stdint.h>

/* Writes "ip" for the address family (4 or 6, v4-mapped shown as v4). */
void addr__format(char *out, size_t outlen, uint8_t family, const uint8_t addr[16]);

#endif
