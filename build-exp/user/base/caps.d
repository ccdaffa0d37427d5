build-exp/user/base/caps.o: user/base/caps.c user/base/caps.h \
 user/base/log.h
user/base/caps.h:
user/base/log.h:
