# sqlite-entitlements — build, test and demo.
#
#   make          dist/entitlements.so (the loadable extension)
#   make demo     build, then run the quickstart in the sqlite3 shell
#   make test     build, then run every test; ends with "N passed, N failed"
#   make asan     the whole suite under AddressSanitizer + UBSan (leaks on)
#   make valgrind the suite under valgrind memcheck
#   make fuzz     the libFuzzer harnesses, FUZZ_SECONDS each (default 60)
#   make fuzz-model  the reference model against the extension, MODEL_EXAMPLES
#                 random sequences (default 500) of up to MODEL_STEPS (default 50);
#                 MODEL_FLAGS= for the fixed sequences instead of new ones
#   make faults   every out-of-memory and I/O-error point of every call (the
#                 full sweeps; make test runs the first FAULTS_MAX of each)
#   make bench    every hot call against the same work in plain SQL, and Redis
#   make bench-scale  the same on 1,000,000 subjects and 10,000,000 ledger rows
#   make amalgamation  dist/entitlements.c + .h: one file to add to an app's build
#   make wheel    dist/sqlite_entitlements-VERSION-py3-none-linux_ARCH.whl: the Python package
#   make npm-pack dist/sqlite-entitlements-VERSION.tgz: the npm package
#   make wasm     dist/wasm/: SQLite and the extension in WebAssembly, for the browser
#   make install  PREFIX=/usr/local: library, header, pkg-config file (make uninstall)
#   make format   clang-format the C sources
#   make clean    remove dist/
#
# Missing build tools and libraries are installed with apt-get (as root).
# APT_INSTALL installs the packages named in the shell variable $$missing:
# only what they depend on (no recommended extras: Chromium alone would bring
# 131 packages, printing and service discovery among them), its output kept
# in a temporary log that is shown only when the install fails.
APT_INSTALL = log=$$(mktemp); { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends $$missing; } >$$log 2>&1 || \
  { tail -n 30 $$log; rm -f $$log; exit 1; }; rm -f $$log

CC      ?= cc
CFLAGS  ?= -O2
WARN     = -std=c11 -Wall -Wextra -Werror
EXTFLAGS = $(WARN) -fPIC -fvisibility=hidden -Idist/gen -Iext
SRC      = $(wildcard ext/*.c)
HDR      = $(wildcard ext/*.h) dist/gen/schema_sql.h
PY      := /usr/bin/python3
VERSION := $(shell sed -n 's/^\#define ENT_VERSION "\(.*\)"/\1/p' ext/ent.h)
SQLITE_MINIMUM := $(shell sed -n 's/^\#define ENT_SQLITE_MINIMUM "\(.*\)"/\1/p' ext/ent.h)
WHEEL := dist/sqlite_entitlements-$(VERSION)-py3-none-linux_$(shell uname -m).whl
NPM_TGZ := dist/sqlite-entitlements-$(VERSION).tgz
NPM_CPU := $(if $(filter x86_64,$(shell uname -m)),x64,arm64)

.PHONY: all wheel wheel-deps npm-pack wasm wasm-deps deps model-deps fuzz-model faults node-deps examples-deps install uninstall bench-deps demo test asan valgrind fuzz bench bench-scale amalgamation format clean

all: dist/entitlements.so

# Installs what a fresh Debian machine lacks; does nothing when all is there.
deps:
	@missing=""; \
	[ -f /usr/include/sqlite3ext.h ] || missing="$$missing libsqlite3-dev"; \
	command -v sqlite3 >/dev/null 2>&1 || missing="$$missing sqlite3"; \
	[ -f /usr/include/cjson/cJSON.h ] || missing="$$missing libcjson-dev"; \
	command -v $(CC) >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v make >/dev/null 2>&1 || missing="$$missing make"; \
	[ -x $(PY) ] || missing="$$missing python3"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_INSTALL); \
	fi

dist/gen/schema_sql.h: sql/schema.sql | deps
	@mkdir -p dist/gen
	@{ echo '/* generated from sql/schema.sql by make: do not edit */'; \
	   echo 'static const char ENT_SCHEMA_SQL[] ='; \
	   sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/  "/' -e 's/$$/\\n"/' $<; \
	   echo '  ;'; } > $@

dist/entitlements.so: $(SRC) $(HDR) | deps
	$(CC) $(CFLAGS) $(EXTFLAGS) -shared -o $@ $(SRC) -lcjson -lm

# The test runner loads dist/entitlements.so; the C tests link the same
# sources statically (-DSQLITE_CORE), which also proves the static build.
dist/runner: tests/runner.c | deps
	$(CC) $(CFLAGS) $(WARN) -o $@ $< -lsqlite3

dist/test_static: tests/c/test_static.c tests/c/testlib.h $(SRC) $(HDR) | deps
	$(CC) $(CFLAGS) $(WARN) -DSQLITE_CORE -Idist/gen -Iext -o $@ $< $(SRC) -lsqlite3 -lcjson -lm

dist/race: tests/c/race.c tests/c/testlib.h | deps
	$(CC) $(CFLAGS) $(WARN) -o $@ $< -lsqlite3

dist/crash: tests/c/crash.c tests/c/testlib.h | deps
	$(CC) $(CFLAGS) $(WARN) -o $@ $< -lsqlite3

# Fault injection links the extension in, so its failing allocator sees
# every allocation the extension (and cJSON) makes.
dist/faults: tests/c/faults.c tests/c/testlib.h $(SRC) $(HDR) | deps
	$(CC) $(CFLAGS) $(WARN) -DSQLITE_CORE -Idist/gen -Iext -o $@ $< $(SRC) -lsqlite3 -lcjson -lm

# The reference model runs on Debian's Python with Debian's Hypothesis.
model-deps: deps
	@$(PY) -c 'import hypothesis' 2>/dev/null || { missing=python3-hypothesis; \
	  echo "installing: $$missing"; $(APT_INSTALL); }

TEST_BINS = dist/entitlements.so dist/runner dist/test_static dist/race dist/crash dist/faults

# The version matrix: the same suite against the newest SQLite amalgamation,
# taken from the better-sqlite3 npm package (deps/sqlite3/, the only place the
# amalgamation is reachable from here). The runner, race and crash tests load
# dist/entitlements.so into that SQLite; test_static compiles the extension
# against its headers with -DSQLITE_CORE.
BSQL_VERSION ?= 12.11.1
VENDOR       = dist/vendor
AMALG_CFLAGS = -O2 -w -DSQLITE_THREADSAFE=1 -DSQLITE_DQS=0
# Defined before the test rule: make expands prerequisites as it reads them.
EXAMPLE_BINS = dist/examples/embed examples/node/node_modules/.package-lock.json \
               tests/e2e/node_modules/.package-lock.json
MATRIX_BINS  = dist/matrix/runner dist/matrix/test_static dist/matrix/race dist/matrix/crash \
               dist/matrix/old_sqlite

node-deps:
	@command -v npm >/dev/null 2>&1 || { missing="nodejs npm"; \
	  echo "installing: $$missing"; $(APT_INSTALL); }

$(VENDOR)/sqlite3.c: | node-deps
	@mkdir -p $(VENDOR)
	cd $(VENDOR) && npm pack --silent better-sqlite3@$(BSQL_VERSION) >/dev/null
	tar -xzf $(VENDOR)/better-sqlite3-$(BSQL_VERSION).tgz -C $(VENDOR) --strip-components=3 \
	  package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h package/deps/sqlite3/sqlite3ext.h
	@test -s $@ && touch $@

$(VENDOR)/sqlite3.o: $(VENDOR)/sqlite3.c
	$(CC) $(AMALG_CFLAGS) -c -o $@ $<

# The runner, race and crash programs on the newest SQLite load the .so.
AMALG_LIBS = -lpthread -ldl -lm

dist/matrix/runner: tests/runner.c $(VENDOR)/sqlite3.o
	@mkdir -p dist/matrix
	$(CC) $(CFLAGS) $(WARN) -I$(VENDOR) -o $@ $< $(VENDOR)/sqlite3.o $(AMALG_LIBS)

dist/matrix/race dist/matrix/crash: dist/matrix/%: tests/c/%.c tests/c/testlib.h $(VENDOR)/sqlite3.o
	@mkdir -p dist/matrix
	$(CC) $(CFLAGS) $(WARN) -I$(VENDOR) -o $@ $< $(VENDOR)/sqlite3.o $(AMALG_LIBS)

# The oldest refusal: SQLite 3.34.0, from an old better-sqlite3 (its
# amalgamation is a tarball inside the package), must be refused on load.
OLD_BSQL_VERSION = 7.1.2
OLD_VENDOR       = dist/vendor-old

$(OLD_VENDOR)/sqlite3.c: | node-deps
	@mkdir -p $(OLD_VENDOR)
	cd $(OLD_VENDOR) && npm pack --silent better-sqlite3@$(OLD_BSQL_VERSION) >/dev/null
	tar -xzf $(OLD_VENDOR)/better-sqlite3-$(OLD_BSQL_VERSION).tgz -C $(OLD_VENDOR) --strip-components=2 package/deps/sqlite3.tar.gz
	tar -xzf $(OLD_VENDOR)/sqlite3.tar.gz -C $(OLD_VENDOR) sqlite3.c sqlite3.h
	@test -s $@ && touch $@

dist/matrix/old_sqlite: tests/c/old_sqlite.c $(OLD_VENDOR)/sqlite3.c
	@mkdir -p dist/matrix
	$(CC) $(CFLAGS) $(WARN) -I$(OLD_VENDOR) -o $@ $< $(OLD_VENDOR)/sqlite3.c -w $(AMALG_LIBS)

dist/matrix/test_static: tests/c/test_static.c tests/c/testlib.h $(SRC) $(HDR) $(VENDOR)/sqlite3.o
	@mkdir -p dist/matrix
	$(CC) $(CFLAGS) $(WARN) -DSQLITE_CORE -I$(VENDOR) -Idist/gen -Iext -o $@ $< $(SRC) $(VENDOR)/sqlite3.o -lcjson $(AMALG_LIBS)

test: $(TEST_BINS) $(MATRIX_BINS) $(EXAMPLE_BINS) $(WHEEL) $(NPM_TGZ) dist/wasm/entitlements-core.mjs dist/wasm/entitlements.mjs | examples-deps model-deps
	@MATRIX=dist/matrix EXAMPLES=1 bash tests/run_all.sh

demo: dist/entitlements.so
	sqlite3 :memory: < examples/quickstart.sql

# The sanitized suite: the runner itself is built with the extension's
# sources inside (static), so ASan sees every allocation.
ASAN = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

asan: | deps
	@mkdir -p dist/asan
	$(MAKE) --no-print-directory dist/gen/schema_sql.h
	$(CC) $(ASAN) $(WARN) -DSQLITE_CORE -DENT_STATIC_RUNNER -Idist/gen -Iext -o dist/asan/runner tests/runner.c $(SRC) -lsqlite3 -lcjson -lm
	$(CC) $(ASAN) $(WARN) -DSQLITE_CORE -Idist/gen -Iext -o dist/asan/test_static tests/c/test_static.c $(SRC) -lsqlite3 -lcjson -lm
	$(CC) $(ASAN) $(WARN) -DSQLITE_CORE -DENT_STATIC_RUNNER -Idist/gen -Iext -o dist/asan/race tests/c/race.c $(SRC) -lsqlite3 -lcjson -lm
	$(CC) $(ASAN) $(WARN) -DSQLITE_CORE -DENT_STATIC_RUNNER -Idist/gen -Iext -o dist/asan/crash tests/c/crash.c $(SRC) -lsqlite3 -lcjson -lm
	$(CC) $(ASAN) $(WARN) -DSQLITE_CORE -Idist/gen -Iext -o dist/asan/faults tests/c/faults.c $(SRC) -lsqlite3 -lcjson -lm
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  RUNNER=dist/asan/runner STATIC=dist/asan/test_static RACE=dist/asan/race CRASH=dist/asan/crash \
	  FAULTS=dist/asan/faults SKIP_PY=1 \
	  bash tests/run_all.sh

# libFuzzer harnesses (clang; its runtime is in libclang-rt-14-dev). Each
# runs FUZZ_SECONDS; a crash leaves its input in dist/fuzz/ and fails.
FUZZ_SECONDS ?= 60
FUZZ = -g -O1 -fsanitize=fuzzer,address,undefined -DSQLITE_CORE -Idist/gen -Iext

fuzz-deps: deps
	@missing=""; \
	command -v clang >/dev/null 2>&1 || missing="$$missing clang"; \
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || missing="$$missing libclang-rt-dev"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_INSTALL); \
	fi

dist/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_db.h $(SRC) $(HDR) | fuzz-deps
	@mkdir -p dist/fuzz
	clang $(FUZZ) -o $@ $< $(SRC) -lsqlite3 -lcjson -lm

fuzz: dist/fuzz/fuzz_load dist/fuzz/fuzz_calls
	@mkdir -p dist/fuzz/corpus_load dist/fuzz/corpus_calls
	@cp tests/fuzz/corpus_load/* dist/fuzz/corpus_load/
	@set -e; for h in fuzz_load fuzz_calls; do \
	  dict=""; [ $$h = fuzz_load ] && dict="-dict=tests/fuzz/load.dict"; \
	  echo "fuzzing $$h for $(FUZZ_SECONDS) s"; \
	  dist/fuzz/$$h -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 $$dict \
	    -artifact_prefix=dist/fuzz/$$h- dist/fuzz/corpus_$${h#fuzz_} 2>dist/fuzz/$$h.log \
	    || { tail -40 dist/fuzz/$$h.log; exit 1; }; \
	  grep -E '^Done|stat::number_of_executed_units' dist/fuzz/$$h.log | tail -1; \
	done

# The long runs, bounded by count: the model on MODEL_EXAMPLES new random
# sequences, and the fault sweeps without a cap.
# MODEL_FLAGS= (empty) runs the fixed, derandomized sequences instead (CI).
MODEL_EXAMPLES ?= 500
MODEL_STEPS    ?= 50
MODEL_FLAGS    ?= --random
fuzz-model: dist/entitlements.so | model-deps
	$(PY) tests/model/test_model.py $(MODEL_FLAGS) --examples $(MODEL_EXAMPLES) --steps $(MODEL_STEPS)

faults: dist/faults
	@mkdir -p dist/test-tmp
	dist/faults --oom --io

# The suite under valgrind memcheck: the runner and C tests load or link the
# extension as in make test; any memory error fails the run.
valgrind: $(TEST_BINS)
	@command -v valgrind >/dev/null 2>&1 || { missing=valgrind; \
	  echo "installing: $$missing"; $(APT_INSTALL); }
	@VALGRIND="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	  SKIP_PY=1 bash tests/run_all.sh

# The benchmark's own needs: Redis and its C client, for the comparison.
bench-deps: deps
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	[ -f /usr/include/hiredis/hiredis.h ] || missing="$$missing libhiredis-dev"; \
	[ -f /usr/include/valgrind/callgrind.h ] || missing="$$missing valgrind"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_INSTALL); \
	fi

dist/bench/bench: tests/bench/bench.c | bench-deps
	@mkdir -p dist/bench
	$(CC) -O2 $(WARN) -DENT_BENCH_REDIS -o $@ $< -lsqlite3 -lhiredis

bench: dist/entitlements.so dist/bench/bench
	@bash tests/bench/run.sh

bench-scale: dist/entitlements.so dist/bench/bench
	@bash tests/bench/run.sh --subjects 1000000 --events 10000000 --db dist/bench/scale.db --rounds 3

# One C file (and its header) for mobile and desktop builds: the schema, the
# shared header once, then every source with its local includes removed.
AMALG_ORDER = entitlements error stmt vtab period plancache memo resolve usage spend rollover rate schema purge config_read currency config subjects \
              checks call consume credit hold grant reset summary events history matrix

# The headers' ent_* function declarations become static in the amalgamation
# (a later definition without a storage class keeps the internal linkage).
AMALG_STATIC = sed -E -e '/^(typedef|static|extern|struct|enum|union|\#)/b' \
  -e 's/^([A-Za-z_][^;(=]*[ *]ent_[a-z0-9_]+\()/static \1/'

# make wheel: a platform wheel of the Python package (bindings/python) with
# the compiled library inside, built offline by Debian's python3-build; the
# version and the SQLite floor come from ext/ent.h. (apsw and sqlite-utils:
# make test loads the installed package through them too.)
wheel-deps: deps
	@missing=""; \
	$(PY) -c 'import build' 2>/dev/null || missing="$$missing python3-build"; \
	$(PY) -c 'import setuptools, wheel' 2>/dev/null || missing="$$missing python3-setuptools python3-wheel"; \
	$(PY) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	$(PY) -c 'import apsw' 2>/dev/null || missing="$$missing python3-apsw"; \
	command -v sqlite-utils >/dev/null 2>&1 || missing="$$missing sqlite-utils"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_INSTALL); \
	fi

wheel: $(WHEEL)
$(WHEEL): dist/entitlements.so LICENSE $(wildcard bindings/python/*.* bindings/python/sqlite_entitlements/*) | wheel-deps
	@rm -rf dist/python && mkdir -p dist/python && cp -r bindings/python/. dist/python/
	@cp dist/entitlements.so LICENSE dist/python/sqlite_entitlements/
	@sed -i 's/@VERSION@/$(VERSION)/g; s/@SQLITE_MINIMUM@/$(SQLITE_MINIMUM)/g' \
	  dist/python/pyproject.toml dist/python/sqlite_entitlements/__init__.py
	@cd dist/python && $(PY) -m build --wheel --no-isolation --outdir .. . >build.log 2>&1 || \
	  { tail -n 30 build.log; exit 1; }
	@ls $(WHEEL) >/dev/null && echo "wrote $(WHEEL)"

# make npm-pack: the npm package (bindings/node) with the compiled library
# inside, as a tarball that npm install takes.
npm-pack: $(NPM_TGZ)
$(NPM_TGZ): dist/entitlements.so LICENSE $(wildcard bindings/node/*) | node-deps
	@rm -rf dist/npm && mkdir -p dist/npm/lib && cp bindings/node/* LICENSE dist/npm/
	@cp dist/entitlements.so dist/npm/lib/entitlements.so
	@sed -i 's/@VERSION@/$(VERSION)/g; s/@SQLITE_MINIMUM@/$(SQLITE_MINIMUM)/g; s/@CPU@/$(NPM_CPU)/g' \
	  dist/npm/package.json dist/npm/index.js
	@cd dist/npm && npm pack --silent --pack-destination .. >/dev/null
	@ls $@ >/dev/null && echo "wrote $@"

# make wasm: SQLite 3.53 (the matrix's amalgamation), the extension and cJSON
# compiled together to WebAssembly by Debian's emscripten, with the extension
# registered by sqlite3_auto_extension, and bindings/wasm/entitlements.mjs,
# the JavaScript API. cJSON's source is Debian's: the version libcjson-dev
# has, its upstream tarball and Debian's patches, from the Debian archive.
CJSON_VERSION := $(shell dpkg-query -W -f '$${Version}' libcjson-dev 2>/dev/null)
CJSON_DIR     := dist/cjson
DEBIAN_POOL   := http://deb.debian.org/debian/pool/main/c/cjson
wasm-deps: deps
	@missing=""; \
	command -v emcc >/dev/null 2>&1 || missing="$$missing emscripten"; \
	[ -d /usr/share/nodejs/acorn ] || missing="$$missing node-acorn"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_INSTALL); \
	fi

$(CJSON_DIR)/cJSON.c: | wasm-deps
	@rm -rf $(CJSON_DIR) && mkdir -p $(CJSON_DIR)/src
	@v='$(CJSON_VERSION)'; up=$${v%%-*}; \
	  curl -fsS -o $(CJSON_DIR)/orig.tar.gz "$(DEBIAN_POOL)/cjson_$$up.orig.tar.gz" && \
	  curl -fsS -o $(CJSON_DIR)/debian.tar.xz "$(DEBIAN_POOL)/cjson_$$v.debian.tar.xz" && \
	  tar xzf $(CJSON_DIR)/orig.tar.gz -C $(CJSON_DIR)/src --strip-components=1 && \
	  tar xJf $(CJSON_DIR)/debian.tar.xz -C $(CJSON_DIR)/src && \
	  cd $(CJSON_DIR)/src && for p in $$(cat debian/patches/series); do patch -p1 -s < debian/patches/$$p || exit 1; done
	@mkdir -p $(CJSON_DIR)/include/cjson && cp $(CJSON_DIR)/src/cJSON.h $(CJSON_DIR)/include/cjson/
	@cp $(CJSON_DIR)/src/cJSON.c $@
	@echo "cJSON $(CJSON_VERSION) from the Debian archive, Debian's patches applied"

WASM_FLAGS = -O2 -DSQLITE_CORE -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_DQS=0 \
  -s MODULARIZE=1 -s EXPORT_ES6=1 -s ALLOW_MEMORY_GROWTH=1 -s ENVIRONMENT=web \
  -s "EXPORTED_FUNCTIONS=['_ent_open','_ent_exec','_ent_close','_ent_free']" \
  -s "EXPORTED_RUNTIME_METHODS=['cwrap','UTF8ToString']"
wasm: dist/wasm/entitlements-core.mjs dist/wasm/entitlements.mjs
dist/wasm/entitlements-core.mjs: dist/entitlements.c bindings/wasm/wasm.c $(VENDOR)/sqlite3.c $(CJSON_DIR)/cJSON.c | wasm-deps
	@mkdir -p dist/wasm
	NODE_PATH=/usr/share/nodejs emcc $(WASM_FLAGS) -I$(VENDOR) -I$(CJSON_DIR)/include -o $@ \
	  $(VENDOR)/sqlite3.c $(CJSON_DIR)/src/cJSON.c dist/entitlements.c bindings/wasm/wasm.c
dist/wasm/entitlements.mjs: bindings/wasm/entitlements.mjs
	@mkdir -p dist/wasm && cp $< $@

amalgamation: dist/entitlements.c dist/entitlements.h

dist/entitlements.c: $(SRC) $(HDR)
	@{ echo '/* sqlite-entitlements $(VERSION), amalgamated by make amalgamation: do not edit. */'; \
	   echo '/* Build: cc -c entitlements.c (loadable: -fPIC -shared; in an app: -DSQLITE_CORE) with cJSON. */'; \
	   echo '#define ENT_NO_INIT3'; \
	   cat dist/gen/schema_sql.h; \
	   echo '/* Every function but sqlite3_entitlements_init is static here, so that an app'; \
	   echo '** linking this file clashes with none of its names. */'; \
	   { grep -v -e '^SQLITE_EXTENSION_INIT3' -e '^#define ENT_NO_INIT3' ext/ent.h; \
	     grep -v -e '^#include "ent.h"' ext/config.h; \
	     grep -v -e '^#include "ent.h"' -e '^extern const char' ext/call.h; } | $(AMALG_STATIC); \
	   for f in $(AMALG_ORDER); do \
	     echo "/* ---- ext/$$f.c ---- */"; \
	     grep -v -e '^#include "ent.h"' -e '^#include "config.h"' -e '^#include "call.h"' \
	       -e '^#include "schema_sql.h"' \
	       -e '^#define ENT_NO_INIT3' ext/$$f.c | sed -E 's/^const char \*const (ENT_[A-Z_]+\[\])/static const char *const \1/'; \
	   done; } > $@
	@mkdir -p dist/gen && $(CC) -c -DSQLITE_CORE -o dist/gen/amalgamation.o $@ && \
	  n=$$(nm dist/gen/amalgamation.o | awk 'NF == 3 && $$2 ~ /^[TDRBC]$$/ && $$3 != "sqlite3_entitlements_init"' | wc -l); \
	  rm -f dist/gen/amalgamation.o; \
	  [ "$$n" -eq 0 ] || { echo "$@ defines $$n global symbols besides sqlite3_entitlements_init"; rm -f $@; exit 1; }
	@echo "wrote $@ ($$(wc -l < $@) lines)"

dist/entitlements.h: ext/ent.h
	@mkdir -p dist
	@{ echo '/* sqlite-entitlements: register with sqlite3_auto_extension() in a static build. */'; \
	   echo '#ifndef SQLITE_ENTITLEMENTS_H'; echo '#define SQLITE_ENTITLEMENTS_H'; \
	   echo '#include <sqlite3.h>'; \
	   echo '#ifdef __cplusplus'; echo 'extern "C" {'; echo '#endif'; \
	   echo 'int sqlite3_entitlements_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);'; \
	   echo '#ifdef __cplusplus'; echo '}'; echo '#endif'; echo '#endif'; } > $@

# The embedding example: the amalgamation compiled into a program with the
# newest SQLite amalgamation, registered by sqlite3_auto_extension().
dist/examples/embed: examples/embed/embed.c dist/entitlements.c dist/entitlements.h $(VENDOR)/sqlite3.o
	@mkdir -p dist/examples
	$(CC) $(CFLAGS) $(WARN) -DSQLITE_CORE -I$(VENDOR) -Idist -o $@ $< dist/entitlements.c $(VENDOR)/sqlite3.o -lcjson $(AMALG_LIBS)

# Everything the examples and their tests need: Tcl's SQLite binding, Debian's
# Chromium, and the npm packages (npm ci, from the committed lockfiles).
# better-sqlite3 has no reachable prebuilt binary here, so node-gyp builds it
# from source against Debian's Node headers (nodedir=/usr), not a download:
# about a minute, so on all cores (JOBS=max) and without this make's
# jobserver flags, which node-gyp's own make must not inherit.
examples-deps: node-deps
	@missing=""; \
	command -v tclsh >/dev/null 2>&1 || missing="$$missing tcl"; \
	[ -d /usr/lib/tcltk/sqlite3 ] || ls /usr/lib/tcltk/*/sqlite3 >/dev/null 2>&1 || missing="$$missing libsqlite3-tcl"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v ruby >/dev/null 2>&1 && ruby -e 'require "sqlite3"' 2>/dev/null || missing="$$missing ruby ruby-sqlite3"; \
	command -v php >/dev/null 2>&1 && php -r 'exit(class_exists("SQLite3") ? 0 : 1);' || missing="$$missing php-cli php-sqlite3"; \
	perl -MDBD::SQLite -e 1 2>/dev/null || missing="$$missing libdbd-sqlite3-perl"; \
	command -v go >/dev/null 2>&1 || missing="$$missing golang-go"; \
	[ -d /usr/share/gocode/src/github.com/mattn/go-sqlite3 ] || missing="$$missing golang-github-mattn-go-sqlite3-dev"; \
	command -v cargo >/dev/null 2>&1 || missing="$$missing cargo"; \
	[ -d /usr/share/cargo/registry ] && ls -d /usr/share/cargo/registry/rusqlite-0.* >/dev/null 2>&1 || missing="$$missing librust-rusqlite-dev"; \
	ls -d /usr/share/cargo/registry/serde_json-1.* >/dev/null 2>&1 || missing="$$missing librust-serde-json-dev"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_INSTALL); \
	fi

examples/node/node_modules/.package-lock.json: examples/node/package.json examples/node/package-lock.json | node-deps
	cd examples/node && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL JOBS=max \
	  npm_config_nodedir=/usr npm_config_python=/usr/bin/python3 \
	  npm ci --no-audit --no-fund --loglevel=error
	@test -f examples/node/node_modules/better-sqlite3/build/Release/better_sqlite3.node

tests/e2e/node_modules/.package-lock.json: tests/e2e/package.json tests/e2e/package-lock.json | node-deps
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error

# make install: the loadable library (libentitlements.so, which SQLite loads as
# "PREFIX/lib/libentitlements" or through the entitlements.so link, and which
# a program can also link with -lentitlements), the header, a pkg-config file.
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PCDIR      ?= $(LIBDIR)/pkgconfig

# The .pc file is written at install time so it names the PREFIX installed to.
# Outside /usr its Libs carry an rpath, so a program linked through it starts
# without LD_LIBRARY_PATH; ldconfig then refreshes the loader's cache (a
# /usr/local install is found through it too).
PC_RPATH = $(if $(filter /usr /usr/,$(PREFIX)),,-Wl$(comma)-rpath$(comma)$${libdir})
comma := ,
install: dist/entitlements.so dist/entitlements.h
	@{ echo 'prefix=$(PREFIX)'; echo 'libdir=$(LIBDIR)'; echo 'includedir=$(INCLUDEDIR)'; echo; \
	   echo 'Name: sqlite-entitlements'; \
	   echo 'Description: Plans, entitlements and usage metering inside SQLite'; \
	   echo 'Version: $(VERSION)'; \
	   echo 'Requires: sqlite3'; \
	   echo 'Libs: -L$${libdir} $(PC_RPATH) -lentitlements'; \
	   echo 'Cflags: -I$${includedir}'; } > dist/sqlite-entitlements.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PCDIR)
	install -m 0755 dist/entitlements.so $(DESTDIR)$(LIBDIR)/libentitlements.so
	ln -sf libentitlements.so $(DESTDIR)$(LIBDIR)/entitlements.so
	install -m 0644 dist/entitlements.h $(DESTDIR)$(INCLUDEDIR)/sqlite-entitlements.h
	install -m 0644 dist/sqlite-entitlements.pc $(DESTDIR)$(PCDIR)/sqlite-entitlements.pc
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libentitlements.so $(DESTDIR)$(LIBDIR)/entitlements.so \
	  $(DESTDIR)$(INCLUDEDIR)/sqlite-entitlements.h $(DESTDIR)$(PCDIR)/sqlite-entitlements.pc

format:
	clang-format -i ext/*.c ext/*.h tests/*.c tests/c/*.[ch] tests/bench/*.c tests/fuzz/*.[ch] examples/embed/*.c

clean:
	rm -rf dist
