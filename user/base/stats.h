/* Counters of what spantap saw, parsed, dropped and emitted. */
#ifndef SPANTAP_STATS_H
#define SPANTAP_STATS_H

#include <stdint.h>
#include <stdio.h>

#define STATS_FIELDS(X)                                                                       \
	X(events, "events received from the kernel")                                          \
	X(bytes, "payload bytes moved on followed connections")                               \
	X(lost_events, "events lost in the kernel: ring buffer full")                         \
	X(gaps, "connections resynchronised after lost events")                               \
	X(parse_errors, "messages that failed to parse")                                      \
	X(truncated_heads, "message heads larger than the capture window")                    \
	X(unmatched, "responses without a request (connection seen mid-stream)")              \
	X(no_response, "requests that ended without a response")                              \
	X(spans, "spans emitted")                                                             \
	X(conns_opened, "connections followed")                                               \
	X(conns_evicted, "connections evicted: connection table full")                        \
	X(pending_full, "requests dropped: pending-request pool full")                        \
	X(reasm_full, "message heads dropped: reassembly pool full")                          \
	X(kernel_conn_full, "connections the kernel could not follow: conn_info full")        \
	X(kernel_records, "ring-buffer records the kernel sent (events bundled in one)")      \
	X(kernel_deferred, "request starts the kernel held for the next event")               \
	X(kernel_cgroup_walks, "cgroups the kernel placed inside or outside --cgroup")        \
	X(container_meta_errors, "container metadata files that could not be read")           \
	X(container_meta_missing, "containers without a runtime metadata file")               \
	X(container_evicted, "containers dropped from the identity cache: full")              \
	X(links, "server spans linked to the client span on this host that called them")      \
	X(links_option, "server spans whose client's context came in a TCP option")           \
	X(tcpopt_written, "TCP options written with a request's first segment")               \
	X(tcpopt_noroom, "TCP options not written: no room in the header")                    \
	X(tcpopt_read, "server requests that arrived with a TCP option")                      \
	X(tcpopt_bad, "TCP options of kind 25 with an unknown length (ignored)")              \
	X(ctx_kernel_header, "server requests whose header context the kernel read")          \
	X(ctx_none, "server requests that arrived without context: new traces")               \
	X(link_timeouts, "server spans whose local client was not seen in time")              \
	X(link_table_full, "requests that could not wait for their peer: table full")         \
	X(link_held_full, "spans released early: hold buffer full")                           \
	X(queue_hops, "list pops that follow from a push seen earlier")                       \
	X(export_spans, "spans handed to an exporter's peer")                                 \
	X(export_dropped, "spans an exporter could not deliver")                              \
	X(export_batches, "batches (datagrams or requests) delivered")                        \
	X(export_truncated, "spans whose long tag values were cut to fit a datagram")         \
	X(traces_skipped, "new traces not sampled (--sample, --max-traces-per-sec)")          \
	X(spans_skipped, "spans of traces not sampled: not built or not exported")            \
	X(kernel_skipped_exchanges, "exchanges of traces not sampled left out in the kernel") \
	X(kernel_skipped_bytes, "their bytes: never copied")                                  \
	X(kernel_skip_resumes, "messages that resumed a connection after such a gap")         \
	X(batch_roots, "new roots the kernel kept, seen here")                                \
	X(batch_followers, "requests pipelined behind them")                                  \
	X(profile_series, "latency series in the profile (--limit series=N)")                 \
	X(profile_overflow, "spans counted in the overflow series: series limit hit")         \
	X(metrics_scrapes, "requests served on --metrics-listen")                             \
	X(tls_files, "files with OpenSSL probed (libssl, or executables carrying it)")        \
	X(tls_uprobes, "TLS uprobes attached")                                                \
	X(tls_failed, "files with OpenSSL that could not be probed")                          \
	X(tls_events, "TLS plaintext events (SSL_read/SSL_write)")                            \
	X(tls_conns, "sockets found to carry TLS: their ciphertext is ignored")               \
	X(tls_nofd, "SSL calls whose socket was not known: not traced")                       \
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
