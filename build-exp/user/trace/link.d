build-exp/user/trace/link.o: user/trace/link.c user/trace/link.h \
 user/trace/sampler.h user/base/hash.h user/base/stats.h user/conn/conn.h \
 user/conn/proto.h user/parse/http1.h user/parse/resp.h \
 user/parse/tracectx.h bpf/spantap.h user/trace/alias.h
user/trace/link.h:
user/trace/sampler.h:
user/base/hash.h:
user/base/stats.h:
user/conn/conn.h:
user/conn/proto.h:
user/parse/http1.h:
user/parse/resp.h:
user/parse/tracectx.h:
bpf/spantap.h:
user/trace/alias.h:
