build-exp/user/parse/http1.o: user/parse/http1.c user/parse/http1.h
user/parse/http1.h:
