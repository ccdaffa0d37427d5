build-exp/user/ingest/record.o: user/ingest/record.c user/ingest/record.h \
 bpf/spantap.h
user/ingest/record.h:
bpf/spantap.h:
