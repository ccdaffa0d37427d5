build-exp/user/export/otlp.o: user/export/otlp.c user/export/otlp.h \
 user/export/batch.h user/export/pb.h user/span/span.h
user/export/otlp.h:
user/export/batch.h:
user/export/pb.h:
user/span/span.h:
