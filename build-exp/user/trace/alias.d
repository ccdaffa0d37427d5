build-exp/user/trace/alias.o: user/trace/alias.c user/trace/alias.h \
 user/trace/sampler.h user/base/stats.h user/conn/proto.h \
 user/parse/http1.h user/parse/resp.h user/parse/tracectx.h bpf/spantap.h \
 user/emit/sink.h user/span/span.h
user/trace/alias.h:
user/trace/sampler.h:
user/base/stats.h:
user/conn/proto.h:
user/parse/http1.h:
user/parse/resp.h:
user/parse/tracectx.h:
bpf/spantap.h:
user/emit/sink.h:
user/span/span.h:
