/* The bounded queue and sender thread behind the exporters that POST (see
 * httpq.h): libcurl for HTTP, zlib for gzip (on the sender thread, not the
 * event loop). Moved here from the Jaeger collector exporter so the OTLP
 * exporter shares every rule and counter. */
#include "export/httpq.h"

#include "base/log.h"
#include "base/stats.h"
#include "export/export.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define RESPONSE_MAX (64 << 10) /* response bytes kept for the response callback */

struct item {
	uint8_t *body;
	size_t len;
	uint32_t nspans;
};

struct httpq {
	struct httpq_opts o;
	char *url;
	char *shown; /* the URL in messages: without a user's password */
	struct curl_slist *headers;
	char *ca_file, *client_cert, *client_key;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item q[HTTPQ_MAX];
	int head, count;
	int stopping;
	int warned;
	uint64_t rnd; /* backoff jitter */
	/* the sender thread's */
	uint8_t *resp;
	size_t resp_len;
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

void httpq__push(struct httpq *q, const struct iovec *iov, int iovcnt, uint32_t nspans)
{
	struct item it = {.nspans = nspans};

	for (int i = 0; i < iovcnt; i++)
		it.len += iov[i].iov_len;
	it.body = malloc(it.len ? it.len : 1);
	if (!it.body) {
		stats__add(export_dropped, nspans);
		return;
	}
	for (size_t i = 0, at = 0; i < (size_t)iovcnt; at += iov[i].iov_len, i++)
		memcpy(it.body + at, iov[i].iov_base, iov[i].iov_len);
	pthread_mutex_lock(&q->lock);
	if (q->count == HTTPQ_MAX) {
		/* the oldest batch makes room: fresh spans matter more */
		struct item *old = &q->q[q->head];
		stats__add(export_dropped, old->nspans);
		free(old->body);
		q->head = (q->head + 1) % HTTPQ_MAX;
		q->count--;
	}
	q->q[(q->head + q->count) % HTTPQ_MAX] = it;
	q->count++;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

static size_t keep_response(char *p, size_t size, size_t n, void *ud)
{
	struct httpq *q = ud;
	size_t len = size * n, room = RESPONSE_MAX - q->resp_len;

	memcpy(q->resp + q->resp_len, p, len < room ? len : room);
	q->resp_len += len < room ? len : room;
	return len;
}

enum post_result { POST_SENT, POST_RETRY, POST_DROP };

/* *retry_after_ms: the peer's Retry-After, when it sent one */
static enum post_result post(struct httpq *q, CURL *curl, const uint8_t *body, size_t len, uint32_t nspans,
			     long *retry_after_ms)
{
	char msg[256] = "";
	curl_off_t ra = -1;
	uint32_t rejected;
	long code = 0;
	CURLcode rc;

	q->resp_len = 0;
	curl_easy_setopt(curl, CURLOPT_URL, q->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, q->headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_response);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, q->o.timeout_ms ? q->o.timeout_ms : 5000L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (q->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, q->ca_file);
	if (q->client_cert)
		curl_easy_setopt(curl, CURLOPT_SSLCERT, q->client_cert);
	if (q->client_key)
		curl_easy_setopt(curl, CURLOPT_SSLKEY, q->client_key);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		pr_debug("failed to send batch to %s '%s': %s\n", q->o.what, q->shown, curl_easy_strerror(rc));
		return POST_RETRY;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	rejected = q->o.response ? q->o.response(code, q->resp, q->resp_len, msg, sizeof(msg)) : 0;
	if (code >= 200 && code < 300) {
		if (rejected > nspans)
			rejected = nspans;
		if (rejected) {
			stats__add(export_dropped, rejected);
			if (!q->warned++)
				pr_warn("%s '%s' rejected %u of %u spans: %s\n", q->o.what, q->shown, rejected, nspans,
					msg);
		}
		stats__add(export_spans, nspans - rejected);
		stats__add(export_batches, 1);
		return POST_SENT;
	}
	if (code == 429 || code == 502 || code == 503 || code == 504) {
		*retry_after_ms = -1;
		if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra >= 0)
			*retry_after_ms = (ra > HTTPQ_RETRY_AFTER_MAX_S ? HTTPQ_RETRY_AFTER_MAX_S : (long)ra) * 1000;
		pr_debug("%s '%s' answered %ld (Retry-After %ld ms)\n", q->o.what, q->shown, code, *retry_after_ms);
		return POST_RETRY;
	}
	if (!q->warned++)
		pr_warn("%s '%s' refused a batch of %u spans (HTTP %ld%s%s): dropped, not retried\n", q->o.what,
			q->shown, nspans, code, msg[0] ? ": " : "", msg);
	else
		pr_debug("%s '%s' answered %ld\n", q->o.what, q->shown, code);
	return POST_DROP;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits up to ms for a stop request; returns 1 if stopping. */
static int sleep_unless_stopping(struct httpq *q, long ms)
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
	pthread_mutex_lock(&q->lock);
	if (!q->stopping)
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	stopping = q->stopping;
	pthread_mutex_unlock(&q->lock);
	return stopping;
}

/* the next wait: Retry-After when the peer gave one, else the backoff
 * (doubling, with jitter so that many tracers do not retry in step) */
static long next_wait(struct httpq *q, long *backoff, long retry_after_ms)
{
	*backoff = *backoff ? (*backoff * 2 > HTTPQ_BACKOFF_MAX_MS ? HTTPQ_BACKOFF_MAX_MS : *backoff * 2)
			    : HTTPQ_BACKOFF_MIN_MS;
	if (retry_after_ms >= 0)
		return retry_after_ms;
	q->rnd ^= q->rnd << 13;
	q->rnd ^= q->rnd >> 7;
	q->rnd ^= q->rnd << 17;
	return *backoff / 2 + (long)(q->rnd % (uint64_t)(*backoff / 2 + 1));
}

static void *sender(void *arg)
{
	struct httpq *q = arg;
	CURL *curl = curl_easy_init();
	uint64_t stop_by = 0;

	for (;;) {
		struct item it;
		long backoff = 0, retry_after = -1;
		uint8_t *body;
		size_t len;
		enum post_result r = POST_DROP;

		/* take the oldest batch: from here on it is this thread's */
		pthread_mutex_lock(&q->lock);
		while (!q->count && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (!q->count) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		it = q->q[q->head];
		q->head = (q->head + 1) % HTTPQ_MAX;
		q->count--;
		pthread_mutex_unlock(&q->lock);

		body = it.body;
		len = it.len;
		if (q->o.gzip && gzip_body(it.body, it.len, &body, &len))
			body = NULL;
		while (curl && body && (r = post(q, curl, body, len, it.nspans, &retry_after)) == POST_RETRY) {
			if (!backoff)
				pr_warn("%s '%s' unavailable; retrying with backoff\n", q->o.what, q->shown);
			if (sleep_unless_stopping(q, next_wait(q, &backoff, retry_after)) && !stop_by)
				stop_by = now_ms() + HTTPQ_DRAIN_MS;
			if (stop_by && now_ms() > stop_by)
				break;
		}
		if (r != POST_SENT)
			stats__add(export_dropped, it.nspans);
		if (body != it.body)
			free(body);
		free(it.body);
		pthread_mutex_lock(&q->lock);
		if (q->stopping && !stop_by)
			stop_by = now_ms() + HTTPQ_DRAIN_MS;
		pthread_mutex_unlock(&q->lock);
		if (stop_by && now_ms() > stop_by)
			break;
	}
	/* what could not be sent in time is lost, and counted */
	pthread_mutex_lock(&q->lock);
	while (q->count) {
		stats__add(export_dropped, q->q[q->head].nspans);
		free(q->q[q->head].body);
		q->head = (q->head + 1) % HTTPQ_MAX;
		q->count--;
	}
	pthread_mutex_unlock(&q->lock);
	curl_easy_cleanup(curl);
	return NULL;
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

/* what httpq__new allocated, and q itself (its thread is not running) */
static void free_queue(struct httpq *q)
{
	curl_slist_free_all(q->headers);
	free(q->resp);
	free(q->url);
	free(q->shown);
	free(q->ca_file);
	free(q->client_cert);
	free(q->client_key);
	free(q);
}

void httpq__free(struct httpq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free_queue(q);
	curl_global_cleanup();
}

/* http://user:secret@host/... -> http://user:***@host/... */
static char *shown_url(const char *url)
{
	const char *auth = strstr(url, "://"), *at, *colon;
	char *out;

	if (!auth)
		return strdup(url);
	auth += 3;
	at = strchr(auth, '@');
	if (!at || (strchr(auth, '/') && strchr(auth, '/') < at) || !(colon = memchr(auth, ':', (size_t)(at - auth))))
		return strdup(url);
	if (asprintf(&out, "%.*s***%s", (int)(colon + 1 - url), url, at) < 0)
		return NULL;
	return out;
}

struct httpq *httpq__new(const struct httpq_opts *o)
{
	char ct[128];
	struct httpq *q;
	int err = ENOMEM;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		pr_err("failed to initialise libcurl for %s '%s'\n", o->what, o->url);
		errno = EINVAL;
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		goto fail;
	q->o = *o;
	q->url = strdup(o->url);
	q->shown = shown_url(o->url);
	if ((o->ca_file && !(q->ca_file = strdup(o->ca_file))) ||
	    (o->client_cert && !(q->client_cert = strdup(o->client_cert))) ||
	    (o->client_key && !(q->client_key = strdup(o->client_key))))
		goto fail;
	q->resp = malloc(RESPONSE_MAX);
	q->rnd = (uint64_t)now_ms() * 0x9e3779b97f4a7c15ULL | 1;
	snprintf(ct, sizeof(ct), "Content-Type: %s", o->content_type);
	q->headers = curl_slist_append(NULL, ct);
	if (o->gzip && q->headers)
		q->headers = curl_slist_append(q->headers, "Content-Encoding: gzip");
	for (size_t i = 0; i < o->nheaders && q->headers; i++)
		if (!curl_slist_append(q->headers, o->headers[i])) {
			curl_slist_free_all(q->headers);
			q->headers = NULL;
		}
	if (!q->url || !q->shown || !q->resp || !q->headers)
		goto fail;
	q->o.url = q->url;
	q->o.headers = NULL;					  /* copied into q->headers */
	q->o.ca_file = q->o.client_cert = q->o.client_key = NULL; /* copied */
	q->o.nheaders = 0;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	if (pthread_create(&q->thread, NULL, sender, q)) {
		pr_err("failed to start sender thread for %s '%s'\n", o->what, o->url);
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cond);
		err = EAGAIN;
		goto fail;
	}
	return q;
fail:
	if (q)
		free_queue(q);
	curl_global_cleanup();
	errno = err;
	return NULL;
}
