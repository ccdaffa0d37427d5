build-exp/user/base/ids.o: user/base/ids.c user/base/ids.h
user/base/ids.h:
