build-exp/user/export/jaeger.o: user/export/jaeger.c user/export/jaeger.h \
 user/export/batch.h user/export/thrift.h user/span/span.h
user/export/jaeger.h:
user/export/batch.h:
user/export/thrift.h:
user/span/span.h:
