build-exp/user/parse/resp.o: user/parse/resp.c user/parse/resp.h \
 user/base/hash.h
user/parse/resp.h:
user/base/hash.h:
