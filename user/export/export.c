/* Helpers shared by the exporters: this host's name and address, and
 * host:port parsing. */
#include "export/export.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *export__hostname(void)
{
	static char name[256];

	if (!name[0] && gethostname(name, sizeof(name) - 1))
		snprintf(name, sizeof(name), "unknown");
	return name;
}

/* the first IPv4 address of an interface that is up and not loopback */
const char *export__host_ip(void)
{
	static char ip[INET6_ADDRSTRLEN];
	struct ifaddrs *ifa, *i;

	if (ip[0])
		return ip;
	snprintf(ip, sizeof(ip), "127.0.0.1");
	if (getifaddrs(&ifa))
		return ip;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip, sizeof(ip));
		break;
	}
	freeifaddrs(ifa);
	return ip;
}

int export__split_hostport(const char *in, char *host, size_t hostlen, char *port, size_t portlen,
			   const char *default_port)
{
	const char *colon, *h = in;
	size_t hl;

	if (in[0] == '[') {
		const char *end = strchr(in, ']');
		if (!end)
			return -EINVAL;
		h = in + 1;
		hl = (size_t)(end - h);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -EINVAL;
	} else {
		colon = strchr(in, ':');
		if (colon && strchr(colon + 1, ':'))
			return -EINVAL; /* bare IPv6 needs brackets */
		hl = colon ? (size_t)(colon - in) : strlen(in);
	}
	if (hl == 0 || hl >= hostlen)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	const char *p = colon ? colon + 1 : default_port;
	char *end;
	long v = strtol(p, &end, 10);
	if (!*p || *end || v < 1 || v > 65535)
		return -EINVAL;
	snprintf(port, portlen, "%ld", v);
	return 0;
}
