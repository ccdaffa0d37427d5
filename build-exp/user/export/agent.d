build-exp/user/export/agent.o: user/export/agent.c user/export/export.h \
 user/emit/sink.h user/export/thrift.h user/base/log.h user/base/stats.h \
 user/export/jaeger.h user/export/batch.h
user/export/export.h:
user/emit/sink.h:
user/export/thrift.h:
user/base/log.h:
user/base/stats.h:
user/export/jaeger.h:
user/export/batch.h:
