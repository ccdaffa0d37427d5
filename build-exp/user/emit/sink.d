build-exp/user/emit/sink.o: user/emit/sink.c user/emit/sink.h \
 user/span/span.h
user/emit/sink.h:
user/span/span.h:
