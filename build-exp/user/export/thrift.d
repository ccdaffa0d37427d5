build-exp/user/export/thrift.o: user/export/thrift.c user/export/thrift.h
user/export/thrift.h:
