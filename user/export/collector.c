/* The Jaeger collector exporter: batches as bare Thrift-binary Batch bodies
 * POSTed to /api/traces with libcurl (optionally gzip-compressed with zlib)
 * from a sender thread, so a slow or dead collector never stalls tracing.
 * Between the two sits a bounded queue; 429/502/503/504 and connection
 * failures are retried with exponential backoff, other errors are not;
 * whatever is dropped is counted. */
#include "export/export.h"

#include "base/log.h"
#include "base/stats.h"
#include "export/batch.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define QUEUE_MAX 64 /* batches waiting to be sent */
#define MAX_BODY (1 << 20)
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define DRAIN_MS 5000 /* at exit, how long the queue may take to empty */

struct item {
	uint8_t *body;
	size_t len;
	uint32_t nspans;
};

struct collector_sink {
	struct sink base;
	char *url;
	int gzip;
	struct batcher *batcher;
	uint8_t *enc; /* one encoded Batch */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item q[QUEUE_MAX];
	int head, count;
	int stopping;
};

static int gzip_body(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	z_stream zs = {0};
	uLong cap = compressBound((uLong)len) + 32;
	uint8_t *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	/* 15 + 16: a gzip wrapper rather than zlib's */
	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(buf);
		return -EINVAL;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&zs);
		free(buf);
		return -EINVAL;
	}
	*outlen = zs.total_out;
	deflateEnd(&zs);
	*out = buf;
	return 0;
}

static void collector_deliver(void *ctx, const struct jaeger_process *p, const uint8_t *body, size_t len, uint32_t n)
{
	struct collector_sink *c = ctx;
	struct thrift_w w;
	struct item it = {.nspans = n};

	thrift_w_init(&w, THRIFT_BINARY, c->enc, MAX_BODY);
	jaeger__encode_batch(&w, p, body, len, n, 0, 0, 0);
	if (w.overflow) {
		stats__add(export_dropped, n);
		return;
	}
	if (c->gzip) {
		if (gzip_body(c->enc, w.len, &it.body, &it.len)) {
			stats__add(export_dropped, n);
			return;
		}
	} else {
		it.body = malloc(w.len);
		if (!it.body) {
			stats__add(export_dropped, n);
			return;
		}
		memcpy(it.body, c->enc, w.len);
		it.len = w.len;
	}
	pthread_mutex_lock(&c->lock);
	if (c->count == QUEUE_MAX) {
		/* the oldest batch makes room: fresh spans matter more */
		struct item *old = &c->q[c->head];
		stats__add(export_dropped, old->nspans);
		free(old->body);
		c->head = (c->head + 1) % QUEUE_MAX;
		c->count--;
	}
	c->q[(c->head + c->count) % QUEUE_MAX] = it;
	c->count++;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* 0 sent, 1 retry later, -1 give up on this batch */
static int post(struct collector_sink *c, CURL *curl, const struct item *it)
{
	struct curl_slist *h = NULL;
	long code = 0;
	CURLcode rc;

	h = curl_slist_append(h, "Content-Type: application/vnd.apache.thrift.binary");
	if (c->gzip)
		h = curl_slist_append(h, "Content-Encoding: gzip");
	curl_easy_setopt(curl, CURLOPT_URL, c->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, it->body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(curl);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		pr_debug("failed to send batch to jaeger collector '%s': %s\n", c->url, curl_easy_strerror(rc));
		return 1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300)
		return 0;
	pr_debug("jaeger collector '%s' answered %ld\n", c->url, code);
	return code == 429 || code == 502 || code == 503 || code == 504 ? 1 : -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits up to ms for a stop request; returns 1 if stopping. */
static int sleep_unless_stopping(struct collector_sink *c, long ms)
{
	struct timespec ts;
	int stopping;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->lock);
	if (!c->stopping)
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	stopping = c->stopping;
	pthread_mutex_unlock(&c->lock);
	return stopping;
}

static void *sender(void *arg)
{
	struct collector_sink *c = arg;
	CURL *curl = curl_easy_init();
	uint64_t stop_by = 0;

	for (;;) {
		struct item it;
		long backoff = 0;
		int r;

		/* take the oldest batch: from here on it is this thread's */
		pthread_mutex_lock(&c->lock);
		while (!c->count && !c->stopping)
			pthread_cond_wait(&c->cond, &c->lock);
		if (!c->count) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		it = c->q[c->head];
		c->head = (c->head + 1) % QUEUE_MAX;
		c->count--;
		pthread_mutex_unlock(&c->lock);

		while ((r = curl ? post(c, curl, &it) : -1) == 1) {
			if (!backoff)
				pr_warn("jaeger collector '%s' unavailable; retrying with backoff\n", c->url);
			backoff = backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2)
					  : BACKOFF_MIN_MS;
			if (sleep_unless_stopping(c, backoff) && !stop_by)
				stop_by = now_ms() + DRAIN_MS;
			if (stop_by && now_ms() > stop_by)
				break;
		}
		if (r == 0) {
			stats__add(export_spans, it.nspans);
			stats__add(export_batches, 1);
		} else {
			stats__add(export_dropped, it.nspans);
		}
		free(it.body);
		pthread_mutex_lock(&c->lock);
		if (c->stopping && !stop_by)
			stop_by = now_ms() + DRAIN_MS;
		pthread_mutex_unlock(&c->lock);
		if (stop_by && now_ms() > stop_by)
			break;
	}
	/* what could not be sent in time is lost, and counted */
	pthread_mutex_lock(&c->lock);
	while (c->count) {
		stats__add(export_dropped, c->q[c->head].nspans);
		free(c->q[c->head].body);
		c->head = (c->head + 1) % QUEUE_MAX;
		c->count--;
	}
	pthread_mutex_unlock(&c->lock);
	curl_easy_cleanup(curl);
	return NULL;
}

static void collector_emit(struct sink *base, const struct span *s)
{
	batcher__add(((struct collector_sink *)base)->batcher, s);
}

static void collector_flush(struct sink *base)
{
	batcher__tick(((struct collector_sink *)base)->batcher);
}

static void collector_destroy(struct sink *base)
{
	struct collector_sink *c = (struct collector_sink *)base;

	batcher__flush_all(c->batcher);
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	batcher__free(c->batcher);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->enc);
	free(c->url);
	free(c);
	curl_global_cleanup();
}

int export__check_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok;

	if (!u)
		return -ENOMEM;
	ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	     (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) && host[0];
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok ? 0 : -EINVAL;
}

struct sink *sink_jaeger_collector__new(const char *url, int gzip)
{
	struct collector_sink *c;

	if (export__check_url(url)) {
		fprintf(stderr,
			"spantap: invalid Jaeger collector URL '%s': expected http[s]://HOST[:PORT]/api/traces\n", url);
		errno = EINVAL;
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		pr_err("failed to initialise libcurl for '%s'\n", url);
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->url = strdup(url);
	c->enc = malloc(MAX_BODY);
	c->gzip = gzip;
	c->batcher = batcher__new(THRIFT_BINARY, MAX_BODY / 4, 0, collector_deliver, c);
	if (!c->url || !c->enc || !c->batcher)
		goto nomem;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (pthread_create(&c->thread, NULL, sender, c)) {
		pr_err("failed to start sender thread for '%s'\n", url);
		goto nomem;
	}
	c->base.name = "jaeger-collector";
	c->base.emit = collector_emit;
	c->base.flush = collector_flush;
	c->base.destroy = collector_destroy;
	return &c->base;
nomem:
	if (c) {
		batcher__free(c->batcher);
		free(c->enc);
		free(c->url);
		free(c);
	}
	curl_global_cleanup();
	errno = ENOMEM;
	return NULL;
}
