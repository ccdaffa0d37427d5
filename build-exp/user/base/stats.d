build-exp/user/base/stats.o: user/base/stats.c user/base/stats.h
user/base/stats.h:
