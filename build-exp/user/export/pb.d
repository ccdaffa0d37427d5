build-exp/user/export/pb.o: user/export/pb.c user/export/pb.h
user/export/pb.h:
