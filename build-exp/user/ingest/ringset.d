build-exp/user/ingest/ringset.o: user/ingest/ringset.c \
 user/ingest/ringset.h
user/ingest/ringset.h:
