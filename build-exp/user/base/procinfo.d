build-exp/user/base/procinfo.o: user/base/procinfo.c user/base/procinfo.h
user/base/procinfo.h:
