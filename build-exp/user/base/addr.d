build-exp/user/base/addr.o: user/base/addr.c user/base/addr.h
user/base/addr.h:
