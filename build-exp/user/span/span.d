build-exp/user/span/span.o: user/span/span.c user/span/span.h \
 user/base/clock.h user/base/procinfo.h user/conn/conn.h \
 user/conn/proto.h user/parse/http1.h user/parse/resp.h \
 user/parse/tracectx.h bpf/spantap.h
user/span/span.h:
user/base/clock.h:
user/base/procinfo.h:
user/conn/conn.h:
user/conn/proto.h:
user/parse/http1.h:
user/parse/resp.h:
user/parse/tracectx.h:
bpf/spantap.h:
