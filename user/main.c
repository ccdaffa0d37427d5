/* spantap: command line, setup and the event loop. Events from the ring
 * buffer go to the connection table, which drives the protocol modules,
 * which hand finished spans to the sinks. */
#include "base/caps.h"
#include "base/container.h"
#include "base/cgroupfs.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/procinfo.h"
#include "base/stats.h"
#include "conn/conn.h"
#include "emit/sink.h"
#include "export/export.h"
#include "ingest/cgwatch.h"
#include "export/observe.h"
#include "ingest/loader.h"
#include "ingest/record.h"
#include "ingest/tls.h"
#include "proto/sessions.h"
#include "span/span.h"
#include "trace/alias.h"
#include "trace/link.h"
#include "trace/queuehop.h"
#include "trace/sampler.h"
#include "trace/stitch.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SPANTAP_VERSION
#define SPANTAP_VERSION "dev"
#endif

#define POLL_MS 20

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static const char usage[] =
	"Usage: spantap [OPTIONS]\n"
	"       spantap top [OPTIONS]   the live view (as --top)\n"
	"Trace every HTTP/1.x and Redis request on this host, without code changes,\n"
	"and print them as spans (needs root).\n"
	"\n"
	"  -p, --pid PID           trace only this process (repeatable)\n"
	"  -P, --port PORT         trace only connections with this local or remote port (repeatable)\n"
	"      --cgroup PATH       trace only processes in this cgroup v2 subtree (repeatable): a path\n"
	"                          under the cgroup2 mount, or as /proc/PID/cgroup's 0:: line shows it\n"
	"      --container ID|NAME trace only this container (repeatable): a Docker or Kubernetes container\n"
	"                          name, an id or its first 4+ hex digits; containers that start later too\n"
	"      --namespace NS      trace only the containers of this Kubernetes namespace (repeatable)\n"
	"      --health-file PATH  touch PATH every second while tracing (for a liveness probe)\n"
	"      --health-check PATH exit 0 if PATH was touched in the last 30 s, else 1 (the probe)\n"
	"  -o, --output FORMAT     text (default) or json: one JSON object per span per line\n"
	"      --capture-bytes N   bytes of each read/write copied from the kernel (64-16384, default 4096)\n"
	"      --jaeger-agent HOST[:PORT]\n"
	"                          send spans to a Jaeger agent over UDP (port 6831, or 6832 for binary);\n"
	"                          default from JAEGER_AGENT_HOST and JAEGER_AGENT_PORT\n"
	"      --jaeger-agent-protocol compact|binary\n"
	"                          Thrift protocol of the agent's datagrams (default compact)\n"
	"      --jaeger-collector URL\n"
	"                          POST spans to a Jaeger collector, e.g. http://jaeger:14268/api/traces;\n"
	"                          default from JAEGER_ENDPOINT\n"
	"      --otlp-endpoint URL\n"
	"                          send spans over OTLP/HTTP (protobuf), e.g. http://collector:4318 (a URL\n"
	"                          without a path gets /v1/traces); default from OTEL_EXPORTER_OTLP_ENDPOINT\n"
	"                          or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (OTEL_EXPORTER_OTLP_HEADERS,\n"
	"                          _COMPRESSION, _TIMEOUT are honoured too)\n"
	"      --otlp-header NAME=VALUE\n"
	"                          an HTTP header on OTLP requests, e.g. an API key (repeatable)\n"
	"      --compress gzip|none  compress collector and OTLP requests (default none)\n"
	"      --print             print spans too when exporting (printing is the default otherwise)\n"
	"  -d, --duration SEC      stop after SEC seconds\n"
	"      --summary           keep a latency profile, printed at exit and on SIGUSR1, instead of spans;\n"
	"                          on by default, after the spans, for a run with -d on a terminal\n"
	"      --no-summary        not even then\n"
	"      --top               the live view: busiest and slowest operations of the last 10 s\n"
	"      --sort rate|errors|p50|p99|name\n"
	"                          the live view's order (default rate; keys r e 5 9 n switch it)\n"
	"      --metrics-listen ADDR:PORT\n"
	"                          serve Prometheus metrics on http://ADDR:PORT/metrics\n"
	"      --stats             print counters every 5 s (they are always printed on exit)\n"
	"      --tls on|off        see inside TLS: uprobes on OpenSSL's SSL_read/SSL_write (default on)\n"
	"      --max-conns N, --max-pending N, --max-held N\n"
	"                          the same as --limit conns=N, pending=N, held=N\n"
	"      --ringbuf-mb N      kernel ring buffer size in MiB, shared by one ring per CPU (default 16)\n"
	"      --sample RATIO      keep this share of new traces, 0.0001-1 (default 1): decided at the\n"
	"                          root, followed by every span of the trace\n"
	"      --max-traces-per-sec N\n"
	"                          keep at most N new traces a second (default 100000; 0: no limit)\n"
	"      --propagation tcp-option|none\n"
	"                          carry each request's trace context to its server in a TCP header\n"
	"                          option (default tcp-option; needs CAP_NET_ADMIN and kernel 5.10)\n"
	"      --no-address-links  link a server span to a client span on this host only through the\n"
	"                          TCP option, not by matching their connection's addresses\n"
	"      --limit NAME=N      the bound of one table (repeatable; --limit help lists them)\n"
	"  -v, --verbose           debug messages (libbpf's too)\n"
	"  -q, --quiet             errors only on stderr\n"
	"  -V, --version           print the version\n"
	"  -h, --help              this help\n";

struct config {
	struct loader_opts lo;
	int json;
	long duration;
	int stats_interval;
	struct conn_limits lim;
	struct alias_limits alias;
	const char *agent; /* HOST[:PORT] */
	enum thrift_proto agent_proto;
	const char *collector;
	int gzip; /* -1: not given */
	struct otlp_opts otlp;
	const char *otlp_headers[32];
	int print;
	struct sampler_config sample;
	int addr_links;
	struct cgwatch_sel sel; /* --container, --namespace */
	const char *health_file;
	int summary; /* -1 off, 0 default, 1 on */
	struct observe_opts obs;
};

/* --health-check: the liveness probe's side of --health-file */
static int health_check(const char *path)
{
	struct stat st;

	if (stat(path, &st)) {
		fprintf(stderr, "spantap: unhealthy: '%s': %s\n", path, strerror(errno));
		return 1;
	}
	if (time(NULL) - st.st_mtime > 30) {
		fprintf(stderr, "spantap: unhealthy: '%s' not touched for %ld s\n", path,
			(long)(time(NULL) - st.st_mtime));
		return 1;
	}
	return 0;
}

/* --health-file: the event loop is alive */
static void health_touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 || futimens(fd, NULL))
		pr_warn("failed to touch health file '%s': %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int parse_num(const char *flag, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "spantap: invalid value '%s' for %s: expected a number from %ld to %ld\n", s, flag, min,
			max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

enum {
	OPT_CAPTURE = 256,
	OPT_TLS,
	OPT_STATS,
	OPT_MAX_CONNS,
	OPT_MAX_PENDING,
	OPT_RINGBUF,
	OPT_AGENT,
	OPT_AGENT_PROTO,
	OPT_PRINT,
	OPT_COLLECTOR,
	OPT_COMPRESS,
	OPT_PROPAGATION,
	OPT_NO_ADDR_LINKS,
	OPT_MAX_HELD,
	OPT_LIMIT,
	OPT_SAMPLE,
	OPT_MAX_TPS,
	OPT_CGROUP,
	OPT_CONTAINER,
	OPT_NAMESPACE,
	OPT_HEALTH_FILE,
	OPT_HEALTH_CHECK,
	OPT_OTLP,
	OPT_OTLP_HEADER,
	OPT_SUMMARY,
	OPT_NO_SUMMARY,
	OPT_TOP,
	OPT_SORT,
	OPT_METRICS,
};

/* Every table's bound, by name: --limit NAME=N. */
struct limit {
	const char *name;
	uint32_t def, min, max;
	const char *what;
};

enum {
	L_KERNEL_CONNS,
	L_KERNEL_INFLIGHT,
	L_CONNS,
	L_PENDING,
	L_PENDING_PER_CONN,
	L_HEADS,
	L_HELD,
	L_TRACES,
	L_THREADS,
	L_PUSHES,
	L_PROCESSES,
	L_CONTAINERS,
	L_SERIES,
	L_NLIMITS,
};

static const struct limit limits_tab[L_NLIMITS] = {
	[L_KERNEL_CONNS] = {"kernel-conns", ST_MAX_CONNS, 256, 1u << 24, "TCP connections the kernel follows (LRU)"},
	[L_KERNEL_INFLIGHT] = {"kernel-inflight", ST_MAX_ACTIVE, 256, 1u << 22,
			       "syscalls in flight on followed sockets"},
	[L_CONNS] = {"conns", 32768, 16, 1u << 22, "connections in user space (LRU eviction)"},
	[L_PENDING] = {"pending", 65536, 16, 1u << 22, "requests awaiting a response, all connections"},
	[L_PENDING_PER_CONN] = {"pending-per-conn", 1024, 1, 1u << 16, "of those, on one connection (pipelining)"},
	[L_HEADS] = {"heads", 1024, 1, 1u << 20, "message heads being reassembled, 16 KiB each"},
	[L_HELD] = {"held", 512, 1, 1u << 16, "spans held while their trace is being decided"},
	[L_TRACES] = {"traces", 16384, 16, 1u << 22, "provisional traces (links and list pops waiting)"},
	[L_THREADS] = {"threads", 16384, 16, 1u << 22, "threads serving a request at once (nesting)"},
	[L_PUSHES] = {"pushes", 16384, 64, 1u << 22, "list pushes remembered for the queue hop"},
	[L_PROCESSES] = {"processes", 4096, 16, 1u << 22, "process names cached"},
	[L_CONTAINERS] = {"containers", 1024, 16, 1u << 20, "containers whose identity is cached"},
	[L_SERIES] = {"series", 1024, 8, 1u << 20,
		      "latency series (profile, metrics; 9 KiB each, 32 with the live view)"},
};

static void limits_help(FILE *f)
{
	fprintf(f, "Tables and their bounds (--limit NAME=N):\n");
	for (int i = 0; i < L_NLIMITS; i++)
		fprintf(f, "  %-17s %8u  %s\n", limits_tab[i].name, limits_tab[i].def, limits_tab[i].what);
}

static uint32_t lim_val[L_NLIMITS];

static int parse_args(int argc, char **argv, struct config *cfg)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"port", required_argument, NULL, 'P'},
		{"cgroup", required_argument, NULL, OPT_CGROUP},
		{"container", required_argument, NULL, OPT_CONTAINER},
		{"namespace", required_argument, NULL, OPT_NAMESPACE},
		{"health-file", required_argument, NULL, OPT_HEALTH_FILE},
		{"health-check", required_argument, NULL, OPT_HEALTH_CHECK},
		{"output", required_argument, NULL, 'o'},
		{"capture-bytes", required_argument, NULL, OPT_CAPTURE},
		{"duration", required_argument, NULL, 'd'},
		{"stats", no_argument, NULL, OPT_STATS},
		{"tls", required_argument, NULL, OPT_TLS},
		{"max-conns", required_argument, NULL, OPT_MAX_CONNS},
		{"max-pending", required_argument, NULL, OPT_MAX_PENDING},
		{"ringbuf-mb", required_argument, NULL, OPT_RINGBUF},
		{"max-held", required_argument, NULL, OPT_MAX_HELD},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"sample", required_argument, NULL, OPT_SAMPLE},
		{"max-traces-per-sec", required_argument, NULL, OPT_MAX_TPS},
		{"jaeger-agent", required_argument, NULL, OPT_AGENT},
		{"jaeger-agent-protocol", required_argument, NULL, OPT_AGENT_PROTO},
		{"print", no_argument, NULL, OPT_PRINT},
		{"jaeger-collector", required_argument, NULL, OPT_COLLECTOR},
		{"compress", required_argument, NULL, OPT_COMPRESS},
		{"propagation", required_argument, NULL, OPT_PROPAGATION},
		{"no-address-links", no_argument, NULL, OPT_NO_ADDR_LINKS},
		{"otlp-endpoint", required_argument, NULL, OPT_OTLP},
		{"otlp-header", required_argument, NULL, OPT_OTLP_HEADER},
		{"summary", no_argument, NULL, OPT_SUMMARY},
		{"no-summary", no_argument, NULL, OPT_NO_SUMMARY},
		{"top", no_argument, NULL, OPT_TOP},
		{"sort", required_argument, NULL, OPT_SORT},
		{"metrics-listen", required_argument, NULL, OPT_METRICS},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;
	long v;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:P:o:d:vqVh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_num("--pid", optarg, 1, INT_MAX, &v))
				return -EINVAL;
			if (cfg->lo.npids == LOADER_MAX_FILTER) {
				fprintf(stderr, "spantap: too many --pid filters (at most %d)\n", LOADER_MAX_FILTER);
				return -EINVAL;
			}
			cfg->lo.pids[cfg->lo.npids++] = (uint32_t)v;
			break;
		case 'P':
			if (parse_num("--port", optarg, 1, 65535, &v))
				return -EINVAL;
			if (cfg->lo.nports == LOADER_MAX_FILTER) {
				fprintf(stderr, "spantap: too many --port filters (at most %d)\n", LOADER_MAX_FILTER);
				return -EINVAL;
			}
			cfg->lo.ports[cfg->lo.nports++] = (uint16_t)v;
			break;
		case OPT_CGROUP: {
			int n = cfg->lo.ncgroups, e;

			if (n == LOADER_MAX_FILTER) {
				fprintf(stderr, "spantap: too many --cgroup filters (at most %d)\n", LOADER_MAX_FILTER);
				return -EINVAL;
			}
			e = cgroupfs__resolve_v2(optarg, cfg->lo.cgroups[n], sizeof(cfg->lo.cgroups[n]),
						 &cfg->lo.cgroup_ids[n]);
			if (e) {
				char m[CGROUPFS_PATH_MAX] = "";

				if (cgroupfs__v2_mount(m, sizeof(m)))
					fprintf(stderr, "spantap: invalid value '%s' for --cgroup: no cgroup2 mount\n",
						optarg);
				else
					fprintf(stderr, "spantap: invalid value '%s' for --cgroup: %s under '%s'\n",
						optarg, e == -ENOTDIR ? "not a cgroup v2 directory" : strerror(-e), m);
				return -EINVAL;
			}
			cfg->lo.ncgroups++;
			break;
		}
		case OPT_CONTAINER:
		case OPT_NAMESPACE: {
			struct cgwatch_sel *sel = &cfg->sel;
			int *n = c == OPT_CONTAINER ? &sel->ncontainers : &sel->nnamespaces;

			if (!optarg[0]) {
				fprintf(stderr, "spantap: invalid value '' for %s: expected a name\n",
					c == OPT_CONTAINER ? "--container" : "--namespace");
				return -EINVAL;
			}
			if (*n == CGWATCH_MAX_SEL) {
				fprintf(stderr, "spantap: too many %s filters (at most %d)\n",
					c == OPT_CONTAINER ? "--container" : "--namespace", CGWATCH_MAX_SEL);
				return -EINVAL;
			}
			(c == OPT_CONTAINER ? sel->containers : sel->namespaces)[(*n)++] = optarg;
			cfg->lo.container_filter = 1;
			break;
		}
		case OPT_HEALTH_FILE:
			cfg->health_file = optarg;
			break;
		case OPT_HEALTH_CHECK:
			exit(health_check(optarg));
		case 'o':
			if (strcmp(optarg, "json") == 0)
				cfg->json = 1;
			else if (strcmp(optarg, "text") == 0)
				cfg->json = 0;
			else {
				fprintf(stderr, "spantap: invalid value '%s' for --output: expected text or json\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_CAPTURE:
			if (parse_num("--capture-bytes", optarg, 64, ST_CAPTURE_MAX, &v))
				return -EINVAL;
			cfg->lo.capture_bytes = (uint32_t)v;
			break;
		case 'd':
			if (parse_num("--duration", optarg, 1, 365L * 86400, &v))
				return -EINVAL;
			cfg->duration = v;
			break;
		case OPT_STATS:
			cfg->stats_interval = 5;
			break;
		case OPT_SAMPLE: {
			char *end;
			double r;
			errno = 0;
			r = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(r >= 0.0001 && r <= 1.0)) {
				fprintf(stderr,
					"spantap: invalid value '%s' for --sample: expected a ratio from 0.0001 to 1\n",
					optarg);
				return -EINVAL;
			}
			cfg->sample.ratio = r;
			break;
		}
		case OPT_MAX_TPS:
			if (parse_num("--max-traces-per-sec", optarg, 0, 100000000, &v))
				return -EINVAL;
			cfg->sample.max_tps = (double)v;
			break;
		case OPT_MAX_CONNS:
			if (parse_num("--max-conns", optarg, 16, 1 << 22, &v))
				return -EINVAL;
			lim_val[L_CONNS] = (uint32_t)v;
			break;
		case OPT_MAX_PENDING:
			if (parse_num("--max-pending", optarg, 16, 1 << 22, &v))
				return -EINVAL;
			lim_val[L_PENDING] = (uint32_t)v;
			break;
		case OPT_MAX_HELD:
			if (parse_num("--max-held", optarg, 1, 1 << 16, &v))
				return -EINVAL;
			lim_val[L_HELD] = (uint32_t)v;
			break;
		case OPT_LIMIT: {
			const char *eq = strchr(optarg, '=');
			int i;

			if (strcmp(optarg, "help") == 0) {
				limits_help(stdout);
				exit(0);
			}
			for (i = 0; i < L_NLIMITS; i++)
				if (eq && (size_t)(eq - optarg) == strlen(limits_tab[i].name) &&
				    strncmp(optarg, limits_tab[i].name, (size_t)(eq - optarg)) == 0)
					break;
			if (i == L_NLIMITS) {
				fprintf(stderr,
					"spantap: invalid value '%s' for --limit: expected NAME=N (--limit help)\n",
					optarg);
				return -EINVAL;
			}
			if (parse_num("--limit", eq + 1, limits_tab[i].min, limits_tab[i].max, &v))
				return -EINVAL;
			lim_val[i] = (uint32_t)v;
			break;
		}
		case OPT_RINGBUF:
			if (parse_num("--ringbuf-mb", optarg, 1, 1024, &v))
				return -EINVAL;
			if (v & (v - 1)) {
				fprintf(stderr,
					"spantap: invalid value '%s' for --ringbuf-mb: expected a power of two\n",
					optarg);
				return -EINVAL;
			}
			cfg->lo.ringbuf_bytes = (uint32_t)v << 20;
			break;
		case OPT_AGENT:
			cfg->agent = optarg;
			break;
		case OPT_AGENT_PROTO:
			if (strcmp(optarg, "compact") == 0)
				cfg->agent_proto = THRIFT_COMPACT;
			else if (strcmp(optarg, "binary") == 0)
				cfg->agent_proto = THRIFT_BINARY;
			else {
				fprintf(stderr,
					"spantap: invalid value '%s' for --jaeger-agent-protocol: expected compact or "
					"binary\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_PRINT:
			cfg->print = 1;
			break;
		case OPT_TLS: /* TLS uprobes (user/ingest/tls.c) */
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "spantap: invalid value '%s' for --tls: expected on or off\n", optarg);
				return -EINVAL;
			}
			cfg->lo.tls = strcmp(optarg, "on") == 0;
			break;
		case OPT_COLLECTOR:
			cfg->collector = optarg;
			break;
		case OPT_COMPRESS:
			if (strcmp(optarg, "gzip") == 0)
				cfg->gzip = 1;
			else if (strcmp(optarg, "none") == 0)
				cfg->gzip = 0;
			else {
				fprintf(stderr, "spantap: invalid value '%s' for --compress: expected gzip or none\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_PROPAGATION:
			if (strcmp(optarg, "tcp-option") == 0) {
				cfg->lo.propagate = 1;
			} else if (strcmp(optarg, "none") == 0) {
				cfg->lo.propagate = 0;
			} else {
				fprintf(stderr,
					"spantap: invalid value '%s' for --propagation: expected tcp-option or none\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_SUMMARY:
			cfg->summary = 1;
			break;
		case OPT_NO_SUMMARY:
			cfg->summary = -1;
			break;
		case OPT_TOP:
			cfg->obs.top = 1;
			break;
		case OPT_SORT:
			if (top__parse_sort(optarg, &cfg->obs.sort)) {
				fprintf(stderr,
					"spantap: invalid value '%s' for --sort: expected rate, errors, p50, p99 or "
					"name\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_NO_ADDR_LINKS:
			cfg->addr_links = 0;
			break;
		case OPT_OTLP:
			cfg->otlp.endpoint = optarg;
			break;
		case OPT_OTLP_HEADER:
			if (cfg->otlp.nheaders == sizeof(cfg->otlp_headers) / sizeof(cfg->otlp_headers[0])) {
				fprintf(stderr, "spantap: too many --otlp-header options\n");
				return -EINVAL;
			}
			cfg->otlp_headers[cfg->otlp.nheaders++] = optarg;
			cfg->otlp.headers = cfg->otlp_headers;
			break;
		case OPT_METRICS:
			cfg->obs.metrics_listen = optarg;
			break;
		case 'v':
			log_level = LOG_DEBUG;
			break;
		case 'q':
			log_level = LOG_ERROR;
			break;
		case 'V':
			printf("spantap %s\n", SPANTAP_VERSION);
			exit(0);
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case ':':
			fprintf(stderr, "spantap: option '%s' needs a value (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "spantap: unknown option '%s' (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "spantap: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static struct loader *ldr;
static struct cgwatch *cgw;

static void on_container(void *ctx, uint64_t cgid, int add, const char *path, const char *name)
{
	int err = loader__cgroup_filter(ldr, cgid, add);

	if (err)
		pr_warn("failed to %s cgroup '%s' %s the kernel's filter: %s\n", add ? "add" : "remove", path,
			add ? "to" : "from", strerror(-err));
	else if (add)
		pr_info("following container '%s' (cgroup %s)\n", name, path);
}

/* --container/--namespace: their containers' cgroups, now and later */
static int setup_cgwatch(struct config *cfg)
{
	char root[CGROUPFS_PATH_MAX];

	if (!cfg->lo.container_filter)
		return 0;
	if (cgroupfs__v2_mount(root, sizeof(root))) {
		pr_err("failed to find the cgroup2 mount in /proc/mounts: --container and --namespace need it\n");
		return -ENOENT;
	}
	cgw = cgwatch__new(root, &cfg->sel, on_container, NULL);
	if (!cgw) {
		pr_err("failed to watch cgroup '%s': %s\n", root, strerror(errno));
		return -errno;
	}
	if (!cgwatch__count(cgw))
		pr_info("no container matches --container/--namespace yet: waiting for one to start\n");
	return 0;
}
static struct tls *tls; /* NULL with --tls off */

/* Exporters from flags, else from the environment Jaeger's own clients
 * and OpenTelemetry's SDKs read; printing when there is no exporter, or
 * with --print. */
static int setup_sinks(struct config *cfg)
{
	const char *def_port = cfg->agent_proto == THRIFT_BINARY ? "6832" : "6831";
	char host[256], port[16], from_env[300];
	const char *agent = cfg->agent;
	int exporters = 0;
	struct sink *s;

	if (!agent && getenv("JAEGER_AGENT_HOST") && *getenv("JAEGER_AGENT_HOST")) {
		const char *h = getenv("JAEGER_AGENT_HOST"), *p = getenv("JAEGER_AGENT_PORT");
		snprintf(from_env, sizeof(from_env), strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, p && *p ? p : def_port);
		agent = from_env;
	}
	if (agent) {
		if (export__split_hostport(agent, host, sizeof(host), port, sizeof(port), def_port)) {
			fprintf(stderr, "spantap: invalid Jaeger agent address '%s': expected HOST[:PORT]\n", agent);
			return -EINVAL;
		}
		s = sink_jaeger_agent__new(host, port, cfg->agent_proto);
		if (!s || sink__add(s))
			return -EINVAL;
		exporters++;
	}
	const char *collector = cfg->collector;
	if (!collector && getenv("JAEGER_ENDPOINT") && *getenv("JAEGER_ENDPOINT"))
		collector = getenv("JAEGER_ENDPOINT");
	if (collector) {
		s = sink_jaeger_collector__new(collector, cfg->gzip > 0);
		if (!s || sink__add(s))
			return -EINVAL;
		exporters++;
	}
	cfg->otlp.gzip = cfg->gzip;
	if (sink_otlp__setup(&cfg->otlp, &s))
		return -EINVAL;
	if (s) {
		if (sink__add(s))
			return -EINVAL;
		exporters++;
	}
	if (cfg->summary == 1 || cfg->obs.top || cfg->obs.metrics_listen)
		exporters++; /* outputs of their own: spans printed only with --print */
	if (!exporters || cfg->print) {
		s = sink_print__new(stdout, cfg->json);
		if (!s || sink__add(s)) {
			pr_err("failed to create printer 'stdout': %s\n", strerror(ENOMEM));
			return -ENOMEM;
		}
	}
	return 0;
}

static uint64_t kernel_skipped;

static void update_kernel_stats(void)
{
	uint64_t k[ST_C_MAX];

	if (ldr && loader__counters(ldr, k) == 0) {
		stats.lost_events = k[ST_C_LOST];
		stats.kernel_conn_full = k[ST_C_CONN_FULL];
		stats.kernel_records = k[ST_C_RECORDS];
		stats.kernel_deferred = k[ST_C_DEFERRED];
		stats.tcpopt_written = k[ST_C_OPT_WRITTEN];
		stats.tcpopt_noroom = k[ST_C_OPT_NOROOM];
		stats.tcpopt_read = k[ST_C_OPT_READ];
		stats.tcpopt_bad = k[ST_C_OPT_BAD];
		stats.ctx_kernel_header = k[ST_C_CTX_HEADER];
		stats.ctx_none = k[ST_C_NO_CTX];
		/* the kernel's skipped roots, added as they grow */
		stats.traces_skipped += k[ST_C_ROOTS_SKIPPED] - kernel_skipped;
		kernel_skipped = k[ST_C_ROOTS_SKIPPED];
		stats.kernel_cgroup_walks = k[ST_C_CGROUP_WALKS];
		stats.kernel_skipped_exchanges = k[ST_C_SKIP_EXCH];
		stats.kernel_skipped_bytes = k[ST_C_SKIP_BYTES];
		stats.tls_events = k[ST_C_TLS_EVENTS];
		stats.tls_conns = k[ST_C_TLS_CONNS];
		stats.tls_nofd = k[ST_C_TLS_NOFD];
		stats.tls_guessed = k[ST_C_TLS_GUESS];
		tls__counts(tls, &stats.tls_files, &stats.tls_uprobes, &stats.tls_failed);
	}
}

static void on_one(void *ctx, const struct st_event_hdr *h, size_t size)
{
	(void)ctx;
	if (h->type == ST_EV_EXEC) { /* look for OpenSSL in the new image */
		tls__on_exec(tls, h->tgid, h->ts_exit);
		return;
	}
	if (conn_table__handle(h, size))
		stats.parse_errors++;
}

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (record__for_each(data, size, on_one, NULL))
		stats.parse_errors++;
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg = {.lo = {.capture_bytes = ST_CAPTURE_DEFAULT, .propagate = 1, .tls = 1},
			     .addr_links = 1,
			     .gzip = -1,
			     .sample = {.ratio = 1.0, .max_tps = SAMPLER_DEFAULT_MAX_TPS}};
	uint64_t start, last_tick, last_stats, last_sync, last_health = 0;
	int err;

	if (argc > 1 && strcmp(argv[1], "top") == 0) {
		cfg.obs.top = 1;
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	if (parse_args(argc, argv, &cfg))
		return 2;
	/* the profile at exit: asked for, or a bounded run on a terminal */
	cfg.obs.summary = cfg.summary == 1 || (cfg.summary == 0 && cfg.duration && !cfg.obs.top && isatty(1));
	cfg.obs.json = cfg.json;
	cfg.obs.refresh = update_kernel_stats;
	for (int i = 0; i < L_NLIMITS; i++)
		if (!lim_val[i])
			lim_val[i] = limits_tab[i].def;
	cfg.lo.kernel_conns = lim_val[L_KERNEL_CONNS];
	cfg.lo.kernel_inflight = lim_val[L_KERNEL_INFLIGHT];
	cfg.lim = (struct conn_limits){.max_conns = lim_val[L_CONNS],
				       .max_pending = lim_val[L_PENDING],
				       .max_reasm = lim_val[L_HEADS],
				       .reasm_size = 16384,
				       .max_pending_per_conn = lim_val[L_PENDING_PER_CONN]};
	cfg.alias = (struct alias_limits){.max_traces = lim_val[L_TRACES], .max_held = lim_val[L_HELD]};
	ids__init();
	sampler__configure(&cfg.sample);
	cfg.lo.sample_ratio = cfg.sample.ratio;
	cfg.lo.max_tps = (uint32_t)cfg.sample.max_tps;
	sampler__mark_keys(cfg.lo.mark_key);
	link__by_address(cfg.addr_links);
	clock__sync();
	if (conn_table__init(&cfg.lim) || alias__init(&cfg.alias) || stitch__init(lim_val[L_THREADS]) ||
	    queuehop__init(lim_val[L_PUSHES]) || procinfo__init(lim_val[L_PROCESSES]) ||
	    container__init(lim_val[L_CONTAINERS])) {
		pr_err("failed to allocate spantap's tables: %s (see --limit help)\n", strerror(ENOMEM));
		return 1;
	}
	link__init();
	sessions__register();
	if (setup_sinks(&cfg))
		return 2;
	cfg.obs.max_series = lim_val[L_SERIES];
	if (observe__setup(&cfg.obs))
		return 2;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (caps__check()) {
		err = 1;
		goto cleanup;
	}
	if (cfg.lo.propagate && !caps__net_admin()) {
		pr_warn("no CAP_NET_ADMIN: trace context is not carried in a TCP option (traces break "
			"across hosts and Service DNAT; same-host links by address only)\n");
		cfg.lo.propagate = 0;
	}
	ldr = loader__open(&cfg.lo, on_event, NULL);
	if (!ldr) {
		err = 1;
		goto cleanup;
	}
	if (setup_cgwatch(&cfg)) {
		err = 1;
		goto cleanup;
	}
	if (cfg.lo.tls) {
		tls = tls__new(loader__object(ldr), cfg.lo.pids, cfg.lo.npids);
		if (!tls) {
			err = 1;
			goto cleanup;
		}
		tls__scan_all(tls);
	}
	pr_info("tracing HTTP/1.x and Redis (%d BPF programs attached); Ctrl-C to stop\n", loader__nprogs(ldr));
	tls__announce(tls);

	start = last_tick = last_stats = last_sync = clock__mono_now();
	while (!exiting) {
		/* the kernel wakes us only for a backlog: poll often */
		uint64_t before = clock__mono_now();
		err = loader__poll(ldr, POLL_MS);
		if (err < 0) {
			pr_err("failed to poll ring buffer 'events': %s\n", strerror(-err));
			break;
		}
		/* everything the kernel wrote before `before` has been read */
		alias__tick(before - LOADER_LAG_NS);
		cgwatch__poll(cgw);
		uint64_t now = clock__mono_now();
		/* what a root the kernel keeps costs its rate limit: soon after
		 * the first batches, the burst is spent in milliseconds */
		loader__set_root_cost(ldr, sampler__root_cost(stats.batch_roots, stats.batch_followers));
		if (now - last_tick > 250000000ULL) {
			conn_table__tick(now);
			tls__tick(tls, now);
			last_tick = now;
		}
		/* follow NTP's adjustments of the wall clock */
		if (now - last_sync > 10000000000ULL) {
			clock__sync();
			last_sync = now;
		}
		if (cfg.health_file && now - last_health >= 1000000000ULL) {
			health_touch(cfg.health_file);
			last_health = now;
		}
		if (cfg.stats_interval && now - last_stats > (uint64_t)cfg.stats_interval * 1000000000ULL) {
			update_kernel_stats();
			fprintf(stderr, "spantap: counters (%u connections open)\n", conn_table__count());
			stats__print(stderr);
			last_stats = now;
		}
		if (cfg.duration && now - start >= (uint64_t)cfg.duration * 1000000000ULL)
			break;
		if (observe__tick(now))
			break;
		sink__flush_all();
	}
	/* what the kernel already sent still counts */
	loader__drain(ldr);
	conn_table__flush_exits();
	err = 0;
cleanup:
	alias__flush();
	update_kernel_stats();
	observe__finish();
	sink__destroy_all();
	if (ldr && log_level >= LOG_INFO) {
		fprintf(stderr, "spantap: counters at exit (%u connections open)\n", conn_table__count());
		stats__print(stderr);
	}
	cgwatch__free(cgw);
	tls__free(tls); /* the uprobes go before the programs */
	loader__destroy(ldr);
	conn_table__free();
	queuehop__reset();
	alias__free();
	return err;
}
