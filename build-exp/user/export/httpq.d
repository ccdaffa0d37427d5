build-exp/user/export/httpq.o: user/export/httpq.c user/export/httpq.h \
 user/base/log.h user/base/stats.h user/export/export.h user/emit/sink.h \
 user/export/thrift.h
user/export/httpq.h:
user/base/log.h:
user/base/stats.h:
user/export/export.h:
user/emit/sink.h:
user/export/thrift.h:
