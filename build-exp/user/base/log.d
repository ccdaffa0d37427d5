build-exp/user/base/log.o: user/base/log.c user/base/log.h
user/base/log.h:
