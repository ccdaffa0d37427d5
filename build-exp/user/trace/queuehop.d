build-exp/user/trace/queuehop.o: user/trace/queuehop.c \
 user/trace/queuehop.h user/base/stats.h user/conn/conn.h \
 user/conn/proto.h user/parse/http1.h user/parse/resp.h \
 user/parse/tracectx.h bpf/spantap.h user/trace/alias.h user/trace/link.h
user/trace/queuehop.h:
user/base/stats.h:
user/conn/conn.h:
user/conn/proto.h:
user/parse/http1.h:
user/parse/resp.h:
user/parse/tracectx.h:
bpf/spantap.h:
user/trace/alias.h:
user/trace/link.h:
