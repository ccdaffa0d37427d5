build-exp/user/export/collector.o: user/export/collector.c \
 user/export/export.h user/emit/sink.h user/export/thrift.h \
 user/base/log.h user/base/stats.h user/export/httpq.h \
 user/export/jaeger.h user/export/batch.h
user/export/export.h:
user/emit/sink.h:
user/export/thrift.h:
user/base/log.h:
user/base/stats.h:
user/export/httpq.h:
user/export/jaeger.h:
user/export/batch.h:
