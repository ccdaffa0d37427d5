build-exp/user/trace/stitch.o: user/trace/stitch.c user/trace/sampler.h \
 user/trace/stitch.h user/base/ids.h user/conn/proto.h user/parse/http1.h \
 user/parse/resp.h user/parse/tracectx.h bpf/spantap.h user/span/span.h
user/trace/sampler.h:
user/trace/stitch.h:
user/base/ids.h:
user/conn/proto.h:
user/parse/http1.h:
user/parse/resp.h:
user/parse/tracectx.h:
bpf/spantap.h:
user/span/span.h:
