#!/bin/sh
# The check inside a booted kernel (PID 1; run from the repository, on the
# host's root filesystem shared read-only with a tmpfs overlay): real
# servers (nginx, redis-server) and clients (curl, redis-cli) under the
# built spantap. Everything lands in /tmp/kout (a share the host reads);
# the host checks the spans. Ends by powering the machine off.
repo=$1
out=/tmp/kout
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bbin
bin=$(sed -n 's/.*spantap.bin=\([^ ]*\).*/\1/p' /proc/cmdline)
exec >$out/guest.log 2>&1
set -x
uname -r >$out/uname
mount -t tmpfs tmpfs /run
ip link set lo up
mkdir -p /tmp/www /tmp/ng /var/log/nginx /var/lib/nginx
echo hello >/tmp/www/hello
cat >/tmp/ng/nginx.conf <<NGX
daemon off; master_process off; worker_processes 1;
error_log /tmp/ng/error.log; pid /tmp/ng/nginx.pid;
events { worker_connections 64; }
http { access_log off;
  client_body_temp_path /tmp/ng/body; proxy_temp_path /tmp/ng/proxy; fastcgi_temp_path /tmp/ng/fcgi;
  uwsgi_temp_path /tmp/ng/uwsgi; scgi_temp_path /tmp/ng/scgi;
  server { listen 127.0.0.1:18080; root /tmp/www; } }
NGX
nginx -c /tmp/ng/nginx.conf &
redis-server --port 16379 --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/tmp/redis.log 2>&1 &
ready=
for i in $(seq 100); do
	redis-cli -p 16379 PING >/dev/null 2>&1 && curl -s -o /dev/null http://127.0.0.1:18080/ && ready=1 && break
	sleep 0.2
done
# the host reports this line: spans missing for want of a server
[ "$ready" ] || echo "guest: servers not answering (nginx or redis-server did not start)"
"$bin" -o json --port 18080 --port 16379 >$out/spans.json 2>$out/stderr.txt &
sp=$!
for i in $(seq 600); do
	grep -q "tracing" $out/stderr.txt && break
	kill -0 $sp 2>/dev/null || break
	sleep 0.2
done
if kill -0 $sp 2>/dev/null; then
	curl -s -o /dev/null http://127.0.0.1:18080/hello
	curl -s -o /dev/null http://127.0.0.1:18080/missing
	redis-cli -p 16379 SET repo:widgets 7
	redis-cli -p 16379 HSET repo:widgets f v
	sleep 1
	kill -INT $sp
fi
wait $sp
echo $? >$out/rc
sync
echo o >/proc/sysrq-trigger
