/* Address formatting (see addr.h). */
#include "base/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

void addr__format(char *out, size_t outlen, uint8_t family, const uint8_t a[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (family == 4)
		inet_ntop(AF_INET, a, out, (socklen_t)outlen);
	else if (family == 6 && memcmp(a, mapped, 12) == 0)
		inet_ntop(AF_INET, a + 12, out, (socklen_t)outlen);
	else if (family == 6)
		inet_ntop(AF_INET6, a, out, (socklen_t)outlen);
	else
		snprintf(out, outlen, "?");
}
