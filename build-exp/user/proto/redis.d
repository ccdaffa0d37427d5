build-exp/user/proto/redis.o: user/proto/redis.c user/base/hash.h \
 user/base/stats.h user/conn/conn.h user/conn/proto.h user/parse/http1.h \
 user/parse/resp.h user/parse/tracectx.h bpf/spantap.h \
 user/proto/exchange.h user/proto/sessions.h user/span/span.h \
 user/trace/alias.h user/trace/queuehop.h user/trace/stitch.h
user/base/hash.h:
user/base/stats.h:
user/conn/conn.h:
user/conn/proto.h:
user/parse/http1.h:
user/parse/resp.h:
user/parse/tracectx.h:
bpf/spantap.h:
user/proto/exchange.h:
user/proto/sessions.h:
user/span/span.h:
user/trace/alias.h:
user/trace/queuehop.h:
user/trace/stitch.h:
