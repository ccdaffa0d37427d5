build-exp/user/parse/tracectx.o: user/parse/tracectx.c \
 user/parse/tracectx.h user/parse/http1.h
user/parse/tracectx.h:
user/parse/http1.h:
