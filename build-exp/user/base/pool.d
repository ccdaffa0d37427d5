build-exp/user/base/pool.o: user/base/pool.c user/base/pool.h
user/base/pool.h:
