/* What spantap needs from the kernel, checked before anything is loaded so
 * that a missing capability is named in one line instead of surfacing as an
 * EPERM from deep inside libbpf. */
#ifndef SPANTAP_CAPS_H
#define SPANTAP_CAPS_H

/* 0 when spantap can load and attach its programs; else prints one line
 * naming the missing capability and returns -EPERM. Prints a one-line
 * notice for what only degrades (reading other users' /proc entries). */
int caps__check(void);
/* CAP_NET_ADMIN: attaching the TCP option's sock_ops program to cgroups. */
int caps__net_admin(void);

#endif
