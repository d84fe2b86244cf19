# rollcall: one Kore-based executable, a CLI, and their tests.
#
#   make            build rollcall and rollcallctl
#   make run        install what is missing, start the local PostgreSQL,
#                   migrate, build and run the server in the foreground
#   make stop       stop the local PostgreSQL
#   make test       every test: unit, integration, sanitizer build, suites
#   make check      unit tests only (fast)
#
# SANITIZE=1 builds everything into build/asan with ASan + UBSan.

KORE		?= /usr/share/kore
PG_INCLUDE	:= $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)

ifeq ($(SANITIZE),1)
B		= build/asan
SANFLAGS	= -fsanitize=address,undefined -fno-omit-frame-pointer \
		  -fno-sanitize-recover=undefined -DRC_SANITIZE \
		  -DRC_TESTHOOKS
OPT		= -O1
else
B		= build/release
SANFLAGS	=
OPT		= -O2
endif

KMODS		= kore buf config connection domain filemap fileref json mem \
		  msg module net pool runtime timer utils worker keymgr auth \
		  accesslog http validator websocket pgsql tasks linux seccomp
KOBJS		= $(KMODS:%=$(B)/kore/%.o) $(B)/kore/version.o
FEATURES	= -DKORE_USE_PGSQL -DKORE_USE_TASKS
CPPFLAGS	= -D_GNU_SOURCE=1 -D_FILE_OFFSET_BITS=64 -I$(PG_INCLUDE)

# Kore's sources are vendor code: built with its own flags.
KCFLAGS		= -std=c99 $(OPT) -g -Wall -Wno-format-truncation $(FEATURES) \
		  $(SANFLAGS) \
		  -I$(KORE)/include/kore -I$(B)/kore

WARN		= -Wall -Wextra -Werror -Wstrict-prototypes \
		  -Wmissing-prototypes -Wshadow -Wpointer-arith -Wcast-qual \
		  -Wsign-compare
CFLAGS		= -std=c99 $(OPT) -g $(WARN) $(SANFLAGS)

CORE_SRCS	= $(wildcard src/core/*.c)
GLUE_SRCS	= $(wildcard src/kore/*.c)
CTL_SRCS	= $(wildcard src/ctl/*.c)
STORE_SRCS	= $(wildcard src/store/*.c)
STORE_OBJS	= $(STORE_SRCS:src/%.c=$(B)/%.o)
CORE_OBJS	= $(CORE_SRCS:src/%.c=$(B)/%.o)
GLUE_OBJS	= $(GLUE_SRCS:src/kore/%.c=$(B)/glue/%.o)
CTL_OBJS	= $(CTL_SRCS:src/%.c=$(B)/%.o)
CHECK_SRCS	= $(wildcard tests/check_*.c)
CHECK_BINS	= $(CHECK_SRCS:tests/%.c=$(B)/tests/%)

CHECK_LIBS	= $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
LDLIBS		= -ljansson -lssl -lcrypto -lm

all: $(B)/rollcall $(B)/rollcallctl
	@ln -sf $(B)/rollcall rollcall
	@ln -sf $(B)/rollcallctl rollcallctl

$(B)/rollcall: $(KOBJS) $(GLUE_OBJS) $(STORE_OBJS) $(B)/libcore.a
	$(CC) $(SANFLAGS) -rdynamic -o $@ $(KOBJS) $(GLUE_OBJS) \
	    $(STORE_OBJS) $(B)/libcore.a -lpq -lpthread -ldl $(LDLIBS)

$(B)/rollcallctl: $(CTL_OBJS) $(STORE_OBJS) $(B)/libcore.a
	$(CC) $(SANFLAGS) -o $@ $(CTL_OBJS) $(STORE_OBJS) $(B)/libcore.a \
	    -lpq $(LDLIBS)

$(B)/libcore.a: $(CORE_OBJS)
	rm -f $@ && ar rcs $@ $(CORE_OBJS)

$(B)/core/%.o: src/core/%.c src/core/*.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -c $< -o $@

$(B)/glue/%.o: src/kore/%.c src/kore/*.h src/core/*.h src/store/*.h \
    $(B)/kore/platform.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(FEATURES) $(CFLAGS) -I$(KORE)/include -Isrc/core \
	    -Isrc/store -Isrc/kore -c $< -o $@

$(B)/store/%.o: src/store/%.c src/store/*.h src/core/*.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -Isrc/store -c $< -o $@

$(B)/ctl/%.o: src/ctl/%.c src/core/*.h src/store/*.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -Isrc/store -c $< -o $@

# Kore itself, from the Debian package's source tree (kore-craft.md 1.3).
$(B)/kore/platform.h:
	@mkdir -p $(@D)
	sh $(KORE)/misc/linux-platform.sh > $@

$(B)/kore/version.c:
	@mkdir -p $(@D)
	printf 'const char *kore_version = "%s";\n' "$$(cat $(KORE)/RELEASE)" > $@

$(B)/kore/version.o: $(B)/kore/version.c
	$(CC) $(CPPFLAGS) $(KCFLAGS) -c $< -o $@

$(B)/kore/%.o: $(KORE)/src/%.c $(B)/kore/platform.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(KCFLAGS) -c $< -o $@

# Unit tests: one Check program per core module.
$(B)/tests/check_%: tests/check_%.c $(B)/libcore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc/core -DTESTS_DIR='"$(CURDIR)/tests"' \
	    -DSHARED_DIR='"$(CURDIR)/../shared"' $< -o $@ $(B)/libcore.a \
	    $(CHECK_LIBS) $(LDLIBS)

check-bins: $(CHECK_BINS)

check: $(CHECK_BINS)
	@sh scripts/run-unit.sh $(CHECK_BINS)

# Every header must compile on its own.
headers:
	@for h in src/core/*.h; do \
	    echo '#include "'$$(basename $$h)'"' | $(CC) $(CPPFLAGS) \
	        $(CFLAGS) -Isrc/core -x c -fsyntax-only - || exit 1; done

run:
	@sh scripts/run.sh

stop:
	@sh scripts/localpg.sh stop

test:
	@sh scripts/test.sh

clean:
	rm -rf build rollcall rollcallctl

.PHONY: all check check-bins headers run stop test clean
