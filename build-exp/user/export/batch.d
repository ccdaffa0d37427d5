build-exp/user/export/batch.o: user/export/batch.c user/export/batch.h \
 user/base/clock.h user/base/procinfo.h user/base/stats.h \
 user/export/export.h user/emit/sink.h user/export/thrift.h \
 user/span/span.h
user/export/batch.h:
user/base/clock.h:
user/base/procinfo.h:
user/base/stats.h:
user/export/export.h:
user/emit/sink.h:
user/export/thrift.h:
user/span/span.h:
