build-exp/user/base/clock.o: user/base/clock.c user/base/clock.h
user/base/clock.h:
