/* Unit tests of container and pod identity: /proc/PID/cgroup texts (v1 and
 * v2 lines, cgroupfs and systemd drivers, Docker, containerd and CRI-O
 * names), the runtimes' metadata files, the JSON reader under them, and the
 * service-name rules. Files under tests/unit/data/container/ named
 * docker-*, containerd-* and cgroup-*-cgroupfs.txt were recorded from the
 * real Docker 20.10 and containerd 1.6 on the CI machine (cgroup v1 hybrid);
 * crio-* and the systemd-driver texts below were written from CRI-O's and
 * kubelet's documented names (CRI-O is not packaged here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/container.h"
#include "base/json.h"
#include "base/procinfo.h"

#define DATA "tests/unit/data/container/"

static char *load(const char *name, size_t *len)
{
	static char buf[65536];
	FILE *f = fopen(name, "rb");

	assert_non_null(f);
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[*len] = 0;
	return buf;
}

static void cg(const char *text, int want, const char *id, int rt, const char *pod)
{
	struct cgroup_ref r;

	assert_int_equal(container__parse_cgroup(text, strlen(text), &r), want);
	assert_string_equal(r.id, id);
	if (want == 0)
		assert_int_equal(r.runtime, rt);
	assert_string_equal(r.pod_uid, pod);
}

#define ID1 "30cf7de1aee87f186487c638913c665e61b328a5105749a63cb2a7937f23cd9d"
#define ID2 "9c5e1d2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f"
#define UID "2c7e9f10-3a4b-4c5d-8e6f-708192a3b4c5"
#define UID_ "2c7e9f10_3a4b_4c5d_8e6f_708192a3b4c5"

static void test_cgroup_recorded(void **state)
{
	size_t n;
	char *t;
	struct cgroup_ref r;

	(void)state;
	/* docker run on this machine: cgroupfs driver, every v1 line and 0:: */
	t = load(DATA "cgroup-docker-cgroupfs.txt", &n);
	assert_int_equal(container__parse_cgroup(t, n, &r), 0);
	assert_string_equal(r.id, ID1);
	assert_int_equal(r.runtime, RT_DOCKER);
	assert_string_equal(r.pod_uid, "");
	assert_string_equal(r.v2_path, "/docker/" ID1);
	/* docker run --cgroup-parent /kubepods/besteffort/pod<uid> (cri-dockerd) */
	t = load(DATA "cgroup-docker-kubepods-cgroupfs.txt", &n);
	assert_int_equal(container__parse_cgroup(t, n, &r), 0);
	assert_string_equal(r.id, "d649ca78641b5c49e4c5247d64b2eae970cb873474588e4f935c89c74eb96138");
	assert_int_equal(r.runtime, RT_UNKNOWN);
	assert_string_equal(r.pod_uid, "0f1e2d3c-4b5a-4697-8877-665544332211");
	/* ctr -n k8s.io run --cgroup /kubepods/besteffort/pod<uid>/<id> */
	t = load(DATA "cgroup-ctr-kubepods-cgroupfs.txt", &n);
	assert_int_equal(container__parse_cgroup(t, n, &r), 0);
	assert_string_equal(r.id, "788a76e0c50c6150e0b7060c2a28b1a3a2345ae823431b99dc93a73c73a4874b");
	assert_string_equal(r.pod_uid, "4b3f1c2a-7d6e-4f5a-9b8c-0d1e2f3a4b5c");
	/* a host process: a 32-hex v1 memory cgroup is not a container */
	t = load(DATA "cgroup-host.txt", &n);
	assert_int_equal(container__parse_cgroup(t, n, &r), -1);
	assert_string_equal(r.id, "");
	assert_string_equal(r.v2_path, "/");
}

static void test_cgroup_patterns(void **state)
{
	(void)state;
	/* systemd driver, pure v2 */
	cg("0::/system.slice/docker-" ID1 ".scope\n", 0, ID1, RT_DOCKER, "");
	cg("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/cri-containerd-" ID2
	   ".scope\n",
	   0, ID2, RT_CONTAINERD, UID);
	cg("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/crio-" ID2 ".scope", 0,
	   ID2, RT_CRIO, UID);
	/* Guaranteed QoS: no QoS slice */
	cg("0::/kubepods.slice/kubepods-pod" UID_ ".slice/docker-" ID2 ".scope\n", 0, ID2, RT_DOCKER, UID);
	/* containerd's systemd cgroup under containerd.service */
	cg("0::/system.slice/containerd.service/kubepods-besteffort-pod" UID_ ".slice:cri-containerd:" ID2 "\n", 0, ID2,
	   RT_CONTAINERD, UID);
	/* cgroupfs driver, v1 lines only (a v1-only host) */
	cg("12:memory:/kubepods/burstable/pod" UID "/" ID2 "\n11:pids:/kubepods/burstable/pod" UID "/" ID2 "\n", 0, ID2,
	   RT_UNKNOWN, UID);
	cg("4:cpu:/kubepods/pod" UID "/" ID2 "\n", 0, ID2, RT_UNKNOWN, UID);
	/* hybrid with the systemd driver: v1 lines name it, 0:: is the root */
	cg("5:memory:/system.slice/docker-" ID1 ".scope\n0::/\n", 0, ID1, RT_DOCKER, "");
	/* CRI-O's monitor is not the container */
	cg("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/crio-conmon-" ID2
	   ".scope\n",
	   -1, "", 0, "");
	/* a pod cgroup alone (the pod's own processes are in containers) */
	cg("0::/kubepods/besteffort/pod" UID "\n", -1, "", 0, "");
	/* nested: the innermost container wins */
	cg("0::/docker/" ID1 "/docker/" ID2 "\n", 0, ID2, RT_DOCKER, "");
	/* not ids: too short, not hex, hex inside a longer word */
	cg("0::/user.slice/user-1000.slice/session-3.scope\n", -1, "", 0, "");
	cg("0::/docker/"
	   "30cf7de1aee87f186487c638913c665e61b328a5105749a63cb2a7937f23cd9"
	   "\n",
	   -1, "", 0, "");
	cg("0::/docker/x" ID1 "\n", -1, "", 0, "");
	cg("0::/docker/"
	   "30CF7DE1AEE87F186487C638913C665E61B328A5105749A63CB2A7937F23CD9D"
	   "\n",
	   -1, "", 0, "");
	/* malformed lines are skipped */
	cg("garbage\n::\n0::\n", -1, "", 0, "");
	cg("", -1, "", 0, "");
}

static void test_docker_config(void **state)
{
	struct container_meta m = {0};
	size_t n;
	char *t;

	(void)state;
	t = load(DATA "docker-plain-config.v2.json", &n);
	assert_int_equal(container__from_docker_config(t, n, &m), 0);
	assert_string_equal(m.name, "demo-redis");
	assert_string_equal(m.image, "spantap-test-base:1");
	assert_string_equal(m.pod_name, "");
	assert_string_equal(m.k8s_container, "");
	assert_int_equal(m.sandbox, 0);

	memset(&m, 0, sizeof(m));
	t = load(DATA "docker-k8s-config.v2.json", &n);
	assert_int_equal(container__from_docker_config(t, n, &m), 0);
	assert_string_equal(m.name, "k8s_web_frontend-5c7d_shop_0f1e2d3c-4b5a-4697-8877-665544332211_0");
	assert_string_equal(m.pod_name, "frontend-5c7d");
	assert_string_equal(m.namespace, "shop");
	assert_string_equal(m.pod_uid, "0f1e2d3c-4b5a-4697-8877-665544332211");
	assert_string_equal(m.k8s_container, "web");

	/* an OCI bundle is not Docker's config */
	memset(&m, 0, sizeof(m));
	t = load(DATA "docker-bundle-config.json", &n);
	assert_int_equal(container__from_docker_config(t, n, &m), -1);
	/* Docker's own bundle has no annotations: read, nothing learnt */
	assert_int_equal(container__from_oci_config(t, n, &m), 0);
	assert_string_equal(m.name, "");
	assert_string_equal(m.pod_name, "");
}

static void test_oci_config(void **state)
{
	struct container_meta m = {0};
	size_t n;
	char *t;

	(void)state;
	/* ctr -n k8s.io run --annotation io.kubernetes.cri.*, as the CRI plugin */
	t = load(DATA "containerd-cri-config.json", &n);
	assert_int_equal(container__from_oci_config(t, n, &m), 0);
	assert_int_equal(m.runtime, RT_CONTAINERD);
	assert_string_equal(m.pod_name, "shop-7d9f");
	assert_string_equal(m.namespace, "shop");
	assert_string_equal(m.pod_uid, "4b3f1c2a-7d6e-4f5a-9b8c-0d1e2f3a4b5c");
	assert_string_equal(m.k8s_container, "cart");
	assert_string_equal(m.name, "cart");
	assert_string_equal(m.image, "registry.example/cart:1.4");
	assert_int_equal(m.sandbox, 0);

	memset(&m, 0, sizeof(m));
	t = load(DATA "crio-config.json", &n);
	assert_int_equal(container__from_oci_config(t, n, &m), 0);
	assert_int_equal(m.runtime, RT_CRIO);
	assert_string_equal(m.pod_name, "checkout-6b8d5");
	assert_string_equal(m.namespace, "payments");
	assert_string_equal(m.pod_uid, UID);
	assert_string_equal(m.k8s_container, "checkout");
	assert_string_equal(m.image, "registry.example/payments/checkout:2.3.1");

	/* only the Labels JSON string: still found */
	memset(&m, 0, sizeof(m));
	t = load(DATA "crio-labels-only-config.json", &n);
	assert_int_equal(container__from_oci_config(t, n, &m), 0);
	assert_string_equal(m.pod_name, "api-0");
	assert_string_equal(m.namespace, "default");
	assert_string_equal(m.k8s_container, "api");
	assert_string_equal(m.pod_uid, "11111111-2222-3333-4444-555555555555");

	memset(&m, 0, sizeof(m));
	t = load(DATA "crio-sandbox-config.json", &n);
	assert_int_equal(container__from_oci_config(t, n, &m), 0);
	assert_int_equal(m.sandbox, 1);

	/* not JSON, not OCI */
	memset(&m, 0, sizeof(m));
	assert_int_equal(container__from_oci_config("{\"ociVersion\":", 14, &m), -1);
	assert_int_equal(container__from_oci_config("{}", 2, &m), -1);
}

/* every prefix of a recorded file is rejected, never read past */
static void test_truncated_files(void **state)
{
	const char *files[] = {DATA "docker-k8s-config.v2.json", DATA "containerd-cri-config.json",
			       DATA "crio-config.json"};

	(void)state;
	for (size_t f = 0; f < 3; f++) {
		size_t n;
		char *t = load(files[f], &n);
		for (size_t k = 0; k + 2 < n; k++) {
			struct container_meta m = {0};
			char *copy = malloc(k ? k : 1);
			memcpy(copy, t, k);
			assert_int_equal(container__from_docker_config(copy, k, &m), -1);
			assert_int_equal(container__from_oci_config(copy, k, &m), -1);
			free(copy);
		}
	}
}

static void test_json(void **state)
{
	static const char js[] =
		" {\"a\": {\"b\": [1, -2.5e3, true, false, null, \"x\"]}, \"s\": \"q\\\"\\u00e9\\ud83d\\ude00\\n\","
		" \"a\": {\"b\": 7}, \"e\": {}, \"l\": []} ";
	static const char *const bad[] = {"",		"{",	 "{\"a\"}", "{\"a\":}", "[1,]",
					  "{\"a\":1,}", "01x",	 "\"\\x\"", "tru",	"[1 2]",
					  "\"a\nb\"",	"{} {}", "-",	    "1.",	"1e"};
	const char *const path[] = {"a", "b", NULL};
	struct json_val root, v, k, e;
	char out[64];
	size_t it = 0;
	int n = 0;

	(void)state;
	assert_int_equal(json__parse(js, strlen(js), &root), 0);
	assert_int_equal(root.type, JSON_OBJECT);
	/* a repeated key: the last one */
	assert_int_equal(json__path(&root, path, &v), 0);
	assert_int_equal(v.type, JSON_NUMBER);
	assert_int_equal(json__member(&root, "s", &v), 0);
	assert_int_equal(json__str(&v, out, sizeof(out)), 9);
	assert_string_equal(out, "q\"\xc3\xa9\xf0\x9f\x98\x80\n");
	assert_true(json__str_eq(&v, "q\"\xc3\xa9\xf0\x9f\x98\x80\n"));
	/* cut to fit */
	assert_int_equal(json__str(&v, out, 3), 2);
	assert_int_equal(json__member(&root, "zz", &v), -1);
	while (json__next(&root, &it, &k, &e))
		n++;
	assert_int_equal(n, 5);
	assert_int_equal(json__member(&root, "e", &v), 0);
	it = 0;
	assert_int_equal(json__next(&v, &it, &k, &e), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(json__parse(bad[i], strlen(bad[i]), &v), -1);
	/* nesting is bounded */
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	assert_int_equal(json__parse(deep, 200, &v), -1);
}

static void test_resource_attrs(void **state)
{
	char svc[64], tags[256];
	const char *a =
		" service.name = checkout%20v2 ,deployment.environment=prod,team=pay%2Cments,broken,k8s.pod.name=x";
	size_t used = procinfo__resource_attrs(a, strlen(a), svc, sizeof(svc), tags, 0, sizeof(tags));
	const char want[] = "deployment.environment\0prod\0team\0pay,ments\0k8s.pod.name\0x";

	(void)state;
	assert_string_equal(svc, "checkout v2");
	assert_int_equal(used, sizeof(want));
	assert_memory_equal(tags, want, sizeof(want));
	/* bounded: what does not fit is left out */
	used = procinfo__resource_attrs(a, strlen(a), svc, sizeof(svc), tags, 0, 30);
	assert_int_equal(used, sizeof("deployment.environment\0prod"));

	static const char env[] = "PATH=/bin\0OTEL_SERVICE_NAMEX=no\0OTEL_SERVICE_NAME=cart\0";
	size_t vl;
	const char *v = procinfo__getenv(env, sizeof(env), "OTEL_SERVICE_NAME", &vl);
	assert_non_null(v);
	assert_int_equal(vl, 4);
	assert_memory_equal(v, "cart", 4);
	assert_null(procinfo__getenv(env, sizeof(env), "HOME", &vl));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_recorded), cmocka_unit_test(test_cgroup_patterns),
		cmocka_unit_test(test_docker_config),	cmocka_unit_test(test_oci_config),
		cmocka_unit_test(test_truncated_files), cmocka_unit_test(test_json),
		cmocka_unit_test(test_resource_attrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
