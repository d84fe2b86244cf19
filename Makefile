# rollcall: one Kore-based executable, a CLI, and their tests.
#
#   make            build rollcall and rollcallctl (build/release/, or
#                   build/asan/ with SANITIZE=1; nothing at the top level)
#   make run        install what is missing, start the local PostgreSQL,
#                   migrate, build and run the server in the foreground
#   make stop       stop the local PostgreSQL
#   make test       every test: unit, integration, sanitizer build, suites,
#                   fuzzing (20 s per harness)
#   make check      unit tests only (fast)
#   make fuzz       every libFuzzer harness for FUZZ_SECONDS (300) each
#
# SANITIZE=1 builds everything into build/asan with ASan + UBSan;
# PROFILE=1 into build/profile, optimised, with frame pointers for perf.

KORE		?= /usr/share/kore
PG_INCLUDE	:= $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)

ifeq ($(PROFILE),1)
# For perf: a release build that keeps frame pointers (perf record -g).
B		= build/profile
SANFLAGS	= -fno-omit-frame-pointer
SANLDFLAGS	=
OPT		= -O2
else ifeq ($(SANITIZE),1)
B		= build/asan
SANFLAGS	= -fsanitize=address,undefined -fno-omit-frame-pointer \
		  -fno-sanitize-recover=undefined -DRC_SANITIZE -DRC_TESTHOOKS
# LeakSanitizer scans Kore's mmap'd pools (src/svc/leakcheck.c).
SANLDFLAGS	= -Wl,--wrap=mmap64 -Wl,--wrap=munmap
OPT		= -O1
else
B		= build/release
SANFLAGS	=
SANLDFLAGS	=
OPT		= -O2
endif

KMODS		= kore buf config connection domain filemap fileref json mem \
		  msg module net pool runtime timer utils worker keymgr auth \
		  accesslog http validator websocket pgsql tasks linux seccomp
KOBJS		= $(KMODS:%=$(B)/kore/%.o) $(B)/kore/version.o
FEATURES	= -DKORE_USE_PGSQL -DKORE_USE_TASKS
CPPFLAGS	= -D_GNU_SOURCE=1 -D_FILE_OFFSET_BITS=64 -I$(PG_INCLUDE)

# Kore's sources are vendor code: built with its own flags, from a copy
# under $(KSRC) with our patches (src/kore-patches/*.patch, in order)
# applied.  Our service layer includes the patched headers too.
KPATCHES	= $(sort $(wildcard src/kore-patches/*.patch))
KSRC		= $(B)/kore-src
KSTAMP		= $(KSRC)/.patched
KCFLAGS		= -std=c99 $(OPT) -g -Wall -Wno-format-truncation $(FEATURES) \
		  $(SANFLAGS) \
		  -I$(KSRC)/include/kore -I$(B)/kore

WARN		= -Wall -Wextra -Werror -Wstrict-prototypes \
		  -Wmissing-prototypes -Wshadow -Wpointer-arith -Wcast-qual \
		  -Wsign-compare
CFLAGS		= -std=c99 $(OPT) -g $(WARN) $(SANFLAGS)

CORE_SRCS	= $(wildcard src/core/*.c)
# The service layer (svc_*): our Kore handlers, hooks and jobs.
SVC_SRCS	= $(wildcard src/svc/*.c)
CTL_SRCS	= $(wildcard src/ctl/*.c)
STORE_SRCS	= $(wildcard src/store/*.c)
STORE_OBJS	= $(STORE_SRCS:src/%.c=$(B)/%.o)
CORE_OBJS	= $(CORE_SRCS:src/%.c=$(B)/%.o)
SVC_OBJS	= $(SVC_SRCS:src/svc/%.c=$(B)/svc/%.o)
CTL_OBJS	= $(CTL_SRCS:src/%.c=$(B)/%.o)
CHECK_SRCS	= $(wildcard tests/check_*.c)
CHECK_BINS	= $(CHECK_SRCS:tests/%.c=$(B)/tests/%)

CHECK_LIBS	= $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)

# What --version and rollcall_build_info report.  The commit is read
# from git at build time; outside a checkout (a container build context
# has no .git) it is RC_COMMIT if given, else "unknown".
RC_VERSION	= 0.1.0
RC_COMMIT	?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
BUILDINFO_OBJ	= $(B)/gen/build_info.o
LDLIBS		= -ljansson -lssl -lcrypto -lutf8proc -lm

all: $(B)/rollcall $(B)/rollcallctl

$(B)/rollcall: $(KOBJS) $(SVC_OBJS) $(STORE_OBJS) $(B)/libcore.a \
    $(BUILDINFO_OBJ)
	$(CC) $(SANFLAGS) $(SANLDFLAGS) -rdynamic -o $@ $(KOBJS) \
	    $(SVC_OBJS) $(STORE_OBJS) $(BUILDINFO_OBJ) $(B)/libcore.a -lpq \
	    -lpthread -ldl $(LDLIBS)

$(B)/rollcallctl: $(CTL_OBJS) $(STORE_OBJS) $(B)/libcore.a $(BUILDINFO_OBJ)
	$(CC) $(SANFLAGS) -o $@ $(CTL_OBJS) $(STORE_OBJS) $(BUILDINFO_OBJ) \
	    $(B)/libcore.a -lpq $(LDLIBS)

# Rewritten only when the version or commit changed, so a new commit
# relinks both binaries and nothing else is rebuilt.
$(B)/gen/build_info.c: FORCE
	@mkdir -p $(@D)
	@printf '#include "build_info.h"\nconst char rc_build_version[] = "%s";\nconst char rc_build_commit[] = "%s";\n' \
	    '$(RC_VERSION)' '$(RC_COMMIT)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILDINFO_OBJ): $(B)/gen/build_info.c src/core/build_info.h
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -c $< -o $@

$(B)/libcore.a: $(CORE_OBJS)
	rm -f $@ && ar rcs $@ $(CORE_OBJS)

$(B)/core/%.o: src/core/%.c src/core/*.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -c $< -o $@

$(B)/svc/%.o: src/svc/%.c src/svc/*.h src/core/*.h src/store/*.h \
    $(B)/kore/platform.h $(KSTAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(FEATURES) $(CFLAGS) -I$(KSRC)/include -Isrc/core \
	    -Isrc/store -Isrc/svc -c $< -o $@

$(B)/store/%.o: src/store/%.c src/store/*.h src/core/*.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -Isrc/store -c $< -o $@

$(B)/ctl/%.o: src/ctl/%.c src/core/*.h src/store/*.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -Isrc/store -c $< -o $@

# Kore itself, compiled from the Debian package's source tree ($(KORE)).
$(B)/kore/platform.h:
	@mkdir -p $(@D)
	sh $(KORE)/misc/linux-platform.sh > $@

$(B)/kore/version.c:
	@mkdir -p $(@D)
	printf 'const char *kore_version = "%s";\n' "$$(cat $(KORE)/RELEASE)" > $@

$(B)/kore/version.o: $(B)/kore/version.c
	$(CC) $(CPPFLAGS) $(KCFLAGS) -c $< -o $@

# A fresh copy whenever a patch (or the list of patches) changes.
$(KSTAMP): $(KPATCHES) Makefile
	rm -rf $(KSRC)
	@mkdir -p $(KSRC)
	cp -R $(KORE)/src $(KORE)/include $(KSRC)/
	@for p in $(KPATCHES); do \
	    echo "patch -p1 < $$p"; \
	    patch -s -p1 --no-backup-if-mismatch -d $(KSRC) < $$p || exit 1; \
	done
	touch $@

$(B)/kore/%.o: $(KSTAMP) $(B)/kore/platform.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(KCFLAGS) -c $(KSRC)/src/$*.c -o $@

# Unit tests: one Check program per core module.
$(B)/tests/check_%: tests/check_%.c tests/check_main.h $(B)/libcore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -DTESTS_DIR='"$(CURDIR)/tests"' \
	    -DSHARED_DIR='"$(CURDIR)/../shared"' $< -o $@ $(B)/libcore.a \
	    $(CHECK_LIBS) $(LDLIBS)

# The store's filter->SQL compiler is pure text generation: its program
# links that one store object and needs no database.
$(B)/tests/check_scim_filter_sql: tests/check_scim_filter_sql.c \
    tests/check_main.h $(B)/store/scim_filter_sql.o $(B)/libcore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -Isrc/store \
	    -DTESTS_DIR='"$(CURDIR)/tests"' $< -o $@ \
	    $(B)/store/scim_filter_sql.o $(B)/libcore.a $(CHECK_LIBS) $(LDLIBS)

# The benchmarks' yardstick (scripts/bench/speed_bench.py): a trivial
# handler linked with the same Kore objects, flags and modules as rollcall.
$(B)/bench/bare: scripts/bench/bare/bare.c $(KOBJS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(FEATURES) $(CFLAGS) -I$(KSRC)/include -c $< \
	    -o $(B)/bench/bare.o
	$(CC) $(SANFLAGS) $(SANLDFLAGS) -rdynamic -o $@ $(KOBJS) \
	    $(B)/bench/bare.o -lpq -lpthread -ldl $(LDLIBS)

bench-bare: $(B)/bench/bare

check-bins: $(CHECK_BINS)

check: $(CHECK_BINS)
	@sh scripts/run-unit.sh $(CHECK_BINS)

# Every header must compile on its own.
headers:
	@for h in src/core/*.h; do \
	    echo '#include "'$$(basename $$h)'"' | $(CC) $(CPPFLAGS) \
	        $(CFLAGS) -Isrc/core -x c -fsyntax-only - || exit 1; done

# libFuzzer harnesses (tests/fuzz): clang with ASan + UBSan like the
# SANITIZE=1 build.  The core (and the store files the policy and filter
# harnesses need) is compiled again by clang into build/fuzz: gcc's
# objects do not mix reliably with -fsanitize=fuzzer.  Corpora grown by a run stay in
# build/fuzz/corpus, crashes in build/fuzz/crashes; tests/fuzz/seeds
# holds only the hand-written seeds.
FUZZ_CC		?= clang
FUZZ_B		= build/fuzz
FUZZ_SECONDS	?= 300
FUZZ_TARGETS	= scim_filter scim_patch scim_schema cursor settings \
		  decision_req policy_apply
FUZZ_SAN	= -fsanitize=address,undefined -fno-omit-frame-pointer \
		  -fno-sanitize-recover=undefined -DRC_SANITIZE
FUZZ_CFLAGS	= -std=c99 -O1 -g $(WARN) $(FUZZ_SAN)
FUZZ_BINS	= $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)
FUZZ_CORE_OBJS	= $(CORE_SRCS:src/%.c=$(FUZZ_B)/%.o)
FUZZ_STORE_OBJS	= $(FUZZ_B)/store/policy_store.o $(FUZZ_B)/store/store.o \
		  $(FUZZ_B)/store/changes.o

$(FUZZ_B)/core/%.o: src/core/%.c src/core/*.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -Isrc/core -c $< -o $@

$(FUZZ_B)/store/%.o: src/store/%.c src/store/*.h src/core/*.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -Isrc/core -Isrc/store -c $< -o $@

$(FUZZ_B)/libcore.a: $(FUZZ_CORE_OBJS)
	rm -f $@ && ar rcs $@ $(FUZZ_CORE_OBJS)

$(FUZZ_B)/fuzz_policy_apply: tests/fuzz/fuzz_policy_apply.c tests/fuzz/fuzz.h \
    $(FUZZ_STORE_OBJS) $(FUZZ_B)/libcore.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Isrc/core \
	    -Isrc/store $< -o $@ $(FUZZ_STORE_OBJS) $(FUZZ_B)/libcore.a \
	    -lpq $(LDLIBS)

$(FUZZ_B)/fuzz_scim_filter: tests/fuzz/fuzz_scim_filter.c tests/fuzz/fuzz.h \
    $(FUZZ_B)/store/scim_filter_sql.o $(FUZZ_B)/libcore.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Isrc/core \
	    -Isrc/store $< -o $@ $(FUZZ_B)/store/scim_filter_sql.o \
	    $(FUZZ_B)/libcore.a $(LDLIBS)

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_B)/libcore.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Isrc/core \
	    $< -o $@ $(FUZZ_B)/libcore.a $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)

# make fuzz: each harness FUZZ_SECONDS; make test runs them for 20 s.
fuzz: $(FUZZ_BINS)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

run:
	@sh scripts/run.sh

stop:
	@sh scripts/localpg.sh stop

test:
	@sh scripts/test.sh

# Also the top-level links earlier versions made.
clean:
	rm -rf build rollcall rollcallctl

.PHONY: all bench-bare check check-bins headers run stop test clean fuzz fuzz-bins FORCE

FORCE:
