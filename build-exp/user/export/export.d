build-exp/user/export/export.o: user/export/export.c user/export/export.h \
 user/emit/sink.h user/export/thrift.h
user/export/export.h:
user/emit/sink.h:
user/export/thrift.h:
