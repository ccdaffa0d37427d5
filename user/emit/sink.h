/* Where finished spans go: the text and JSON printers (here) and the Jaeger
 * exporters (export.h). A sink is a small vtable; every span that leaves the
 * hold gate (alias__emit) goes to every registered sink in turn. */
#ifndef SPANTAP_SINK_H
#define SPANTAP_SINK_H

#include <stdio.h>

struct span;

struct sink {
	const char *name;
	void (*emit)(struct sink *s, const struct span *sp);
	void (*flush)(struct sink *s);
	void (*destroy)(struct sink *s);
};

int sink__add(struct sink *s); /* 0 or -ENOSPC */
void sink__emit_all(const struct span *sp);
void sink__flush_all(void);
void sink__destroy_all(void);

/* printers on a stdio stream: one line of text, or one JSON object, a span */
struct sink *sink_print__new(FILE *f, int json);

#endif
