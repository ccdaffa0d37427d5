build-exp/user/proto/exchange.o: user/proto/exchange.c \
 user/proto/exchange.h user/proto/sessions.h user/conn/proto.h \
 user/parse/http1.h user/parse/resp.h user/parse/tracectx.h bpf/spantap.h \
 user/conn/conn.h user/trace/alias.h user/trace/link.h \
 user/trace/stitch.h
user/proto/exchange.h:
user/proto/sessions.h:
user/conn/proto.h:
user/parse/http1.h:
user/parse/resp.h:
user/parse/tracectx.h:
bpf/spantap.h:
user/conn/conn.h:
user/trace/alias.h:
user/trace/link.h:
user/trace/stitch.h:
