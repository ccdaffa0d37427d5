build-exp/user/export/otlphttp.o: user/export/otlphttp.c \
 user/export/export.h user/emit/sink.h user/export/thrift.h \
 user/base/log.h user/base/stats.h user/export/batch.h \
 user/export/httpq.h user/export/otlp.h
user/export/export.h:
user/emit/sink.h:
user/export/thrift.h:
user/base/log.h:
user/base/stats.h:
user/export/batch.h:
user/export/httpq.h:
user/export/otlp.h:
