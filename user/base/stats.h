/* Counters of what spantap saw, parsed, dropped and emitted. */
#ifndef SPANTAP_STATS_H
#define SPANTAP_STATS_H

#include <stdint.h>
#include <stdio.h>

#define STATS_FIELDS(X)                                                                  \
	X(events, "events received from the kernel")                                     \
	X(bytes, "payload bytes moved on followed connections")                          \
	X(lost_events, "events lost in the kernel: ring buffer full")                    \
	X(gaps, "connections resynchronised after lost events")                          \
	X(parse_errors, "messages that failed to parse")                                 \
	X(truncated_heads, "message heads larger than the capture window")               \
	X(unmatched, "responses without a request (connection seen mid-stream)")         \
	X(no_response, "requests that ended without a response")                         \
	X(spans, "spans emitted")                                                        \
	X(conns_opened, "connections followed")                                          \
	X(conns_evicted, "connections evicted: connection table full")                   \
	X(pending_full, "requests dropped: pending-request pool full")                   \
	X(reasm_full, "message heads dropped: reassembly pool full")                     \
	X(kernel_conn_full, "connections the kernel could not follow: conn_info full")   \
	X(kernel_records, "ring-buffer records the kernel sent (events bundled in one)") \
	X(kernel_deferred, "request starts the kernel held for the next event")          \
	X(links, "server spans linked to the client span on this host that called them") \
	X(link_timeouts, "server spans whose local client was not seen in time")         \
	X(link_table_full, "requests that could not wait for their peer: table full")    \
	X(link_held_full, "spans released early: hold buffer full")                      \
	X(queue_hops, "list pops that follow from a push seen earlier")                  \
	X(export_spans, "spans handed to an exporter's peer")                            \
	X(export_dropped, "spans an exporter could not deliver")                         \
	X(export_batches, "batches (datagrams or requests) delivered")                   \
	X(export_truncated, "spans whose long tag values were cut to fit a datagram")    \
	X(traces_skipped, "new traces not sampled (--sample, --max-traces-per-sec)")     \
	X(spans_skipped, "spans of traces not sampled: not built or not exported")       \
	X(tls_files, "files with OpenSSL probed (libssl, or executables carrying it)")   \
	X(tls_uprobes, "TLS uprobes attached")                                           \
	X(tls_failed, "files with OpenSSL that could not be probed")                     \
	X(tls_events, "TLS plaintext events (SSL_read/SSL_write)")                       \
	X(tls_conns, "sockets found to carry TLS: their ciphertext is ignored")          \
	X(tls_nofd, "SSL calls whose socket was not known: not traced")                  \
	X(tls_guessed, "SSL objects tied to their thread's last ciphertext socket")

struct stats {
#define X(name, desc) uint64_t name;
	STATS_FIELDS(X)
#undef X
};

extern struct stats stats;

/* For counters that more than one thread updates (the exporters'). */
#define stats__add(field, n) __atomic_fetch_add(&stats.field, (uint64_t)(n), __ATOMIC_RELAXED)

void stats__print(FILE *f);

#endif
