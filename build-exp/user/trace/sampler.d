build-exp/user/trace/sampler.o: user/trace/sampler.c user/trace/sampler.h \
 user/base/ids.h user/base/stats.h user/span/span.h
user/trace/sampler.h:
user/base/ids.h:
user/base/stats.h:
user/span/span.h:
