build-exp/user/conn/conn.o: user/conn/conn.c user/conn/conn.h \
 user/conn/proto.h user/parse/http1.h user/parse/resp.h \
 user/parse/tracectx.h bpf/spantap.h user/base/addr.h user/base/hash.h \
 user/base/log.h user/base/pool.h user/base/procinfo.h user/base/stats.h
user/conn/conn.h:
user/conn/proto.h:
user/parse/http1.h:
user/parse/resp.h:
user/parse/tracectx.h:
bpf/spantap.h:
user/base/addr.h:
user/base/hash.h:
user/base/log.h:
user/base/pool.h:
user/base/procinfo.h:
user/base/stats.h:
