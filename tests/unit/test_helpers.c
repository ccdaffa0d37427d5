/* Unit tests of the pure helpers: URL sanitizing and service names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/procinfo.h"
#include "span/span.h"

static void test_sanitize_target(void **state)
{
	static const char *const v[][2] = {
		{"/plain", "/plain"},
		{"/s?q=widgets&page=2", "/s?q=widgets&page=2"},
		{"/login?user=bob&password=hunter2", "/login?user=bob&password=?"},
		{"/x?access_token=abc&api_key=k1&KEY=z&flag", "/x?access_token=?&api_key=?&KEY=?&flag"},
		{"/cb?code=123&state=s", "/cb?code=?&state=s"},
		{"/p?secret=1#frag", "/p?secret=?"},
		{"/e?=v&&a=", "/e?=v&&a="},
	};
	char out[128];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = sanitize_target(out, sizeof(out), v[i][0], strlen(v[i][0]));
		assert_string_equal(out, v[i][1]);
		assert_int_equal(n, strlen(v[i][1]));
	}
	/* bounded by the output size */
	assert_int_equal(sanitize_target(out, 4, "/abcdef", 7), 3);
	assert_string_equal(out, "/ab");
}

static void svc(const char *cmdline, size_t len, const char *want)
{
	char out[PROCINFO_SERVICE_MAX];

	assert_int_equal(procinfo__service_from_cmdline(cmdline, len, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

#define SVC(lit, want) svc(lit, sizeof(lit), want)

static void test_service_names(void **state)
{
	char out[PROCINFO_SERVICE_MAX];

	(void)state;
	SVC("/usr/bin/python3\0/srv/app/contributors.py", "contributors");
	SVC("python3\0-u\0-W\0ignore\0app.py\0--port\0005000", "app");
	SVC("/usr/bin/python3\0-m\0http.server\0008000", "http.server");
	SVC("java\0-Xmx1g\0-jar\0/opt/billing-service.jar", "billing-service");
	SVC("node\0/srv/web/server.js", "server");
	SVC("/usr/sbin/nginx\0-g\0daemon off;", "nginx");
	SVC("redis-server *:6379", "redis-server");
	SVC("nginx: worker process", "nginx");
	SVC("/usr/bin/python3", "python3");
	assert_int_equal(procinfo__service_from_cmdline("", 1, out, sizeof(out)), -1);

	static const char env[] = "PATH=/bin\0OTEL_SERVICE_NAME=checkout\0HOME=/";
	assert_int_equal(procinfo__service_from_environ(env, sizeof(env), out, sizeof(out)), 0);
	assert_string_equal(out, "checkout");
	static const char env2[] = "OTEL_SERVICE_NAME=\0X=1";
	assert_int_equal(procinfo__service_from_environ(env2, sizeof(env2), out, sizeof(out)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize_target),
		cmocka_unit_test(test_service_names),
	};
	return cmocka_run_group_tests_name("helpers", tests, NULL, NULL);
}
