# wesar - build, test, bench.  `make` builds build/wesar; `make test` runs the suite.
CC ?= cc
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
# OpenBLAS built for OpenMP (Debian libopenblas-openmp-dev) shares our OpenMP
# thread pool; fall back to whatever -lopenblas is.
BLAS_DIR ?= /usr/lib/$(MULTIARCH)/openblas-openmp
BLAS_INC ?= /usr/include/$(MULTIARCH)/openblas-openmp
ifneq ($(wildcard $(BLAS_DIR)/libopenblas.so),)
BLAS_LIBS := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas
BLAS_CFLAGS := -I$(BLAS_INC)
else
BLAS_LIBS := -lopenblas
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
endif

OPT ?= -O3 -march=native
WARN := -Wall -Wextra -Werror -Wno-unknown-pragmas
CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp $(WARN) $(BLAS_CFLAGS)
# libmvec: the vector erff/expf that kernels_cpu.c asks for (glibc, x86-64)
MVEC := $(if $(wildcard /usr/lib/$(MULTIARCH)/libmvec.so),-lmvec)
# oneDNN (Debian libdnnl-dev) computes --precision bf16's products where it is installed
ifneq ($(wildcard /usr/include/oneapi/dnnl/dnnl.h),)
CFLAGS_BASE += -DWESAR_ONEDNN
ONEDNN_LIBS := -ldnnl
endif
LDLIBS := $(BLAS_LIBS) $(ONEDNN_LIBS) -lcjson -lpcre2-8 -llzma -lz -lzstd $(MVEC) -lm -fopenmp

SRC := $(wildcard src/kernels/*.c src/model/*.c src/reparam/*.c src/optim/*.c src/data/*.c \
                  src/ckpt/*.c src/train/*.c src/report/*.c src/infer/*.c src/util/*.c src/dist/*.c \
                  src/sweep/*.c)
HDR := $(wildcard src/*/*.h)
TESTS := test_units test_methods test_overfit ref_dump optim_dump tok_dump

# Data parallelism over MPI (src/dist): compiled in when mpicc is found
# (Debian: libopenmpi-dev openmpi-bin), or forced with MPI=1 / MPI=0.
MPICC := $(shell command -v mpicc 2>/dev/null)
MPI ?= $(if $(MPICC),1,0)
ifeq ($(MPI),1)
ifeq ($(MPICC),)
$(error MPI=1 but mpicc was not found: apt-get install libopenmpi-dev openmpi-bin)
endif
MPI_CFLAGS := -DWESAR_MPI $(shell mpicc --showme:compile 2>/dev/null || pkg-config --cflags ompi-c)
MPI_LIBS := $(shell mpicc --showme:link 2>/dev/null || pkg-config --libs ompi-c)
endif

# Three builds of the same sources: release (fp32), fp64 (finite differences),
# asan (address + undefined behaviour sanitizers).  release and fp64 take MPI
# when it is on; asan never does (OpenMPI's own allocations would drown the
# leak report), so the suite also runs the build without MPI.
VARIANTS := release fp64 asan
CFLAGS_release := $(OPT) $(MPI_CFLAGS)
CFLAGS_fp64 := -O2 -DWESAR_FP64 $(MPI_CFLAGS)
CFLAGS_asan := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LIBS_release := $(MPI_LIBS)
LIBS_fp64 := $(MPI_LIBS)

MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
.PHONY: all test test-fast fuzz clean FORCE
.PRECIOUS: build/%.o
.SECONDARY: $(foreach v,$(VARIANTS),$(addprefix build/$(v)/obj/tests/,$(addsuffix .o,$(TESTS) test_grad)))
all: build/release/wesar

# build/<variant>/flags holds the variant's compiler flags and changes only
# when they do (make MPI=0 after MPI=1 rebuilds instead of mixing objects).
define variant
build/$(1)/flags: FORCE
	@mkdir -p $$(dir $$@)
	@echo '$$(CC) $$(CFLAGS_BASE) $$(CFLAGS_$(1)) $$(LIBS_$(1))' | cmp -s - $$@ || \
	 echo '$$(CC) $$(CFLAGS_BASE) $$(CFLAGS_$(1)) $$(LIBS_$(1))' > $$@
build/$(1)/obj/%.o: src/%.c $(HDR) build/$(1)/flags
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS_BASE) $$(CFLAGS_$(1)) -c $$< -o $$@
build/$(1)/obj/tests/%.o: tests/%.c $(HDR) build/$(1)/flags
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS_BASE) $$(CFLAGS_$(1)) -Isrc -c $$< -o $$@
build/$(1)/libwesar.a: $(patsubst src/%.c,build/$(1)/obj/%.o,$(SRC))
	@rm -f $$@
	ar rcs $$@ $$^
build/$(1)/wesar: build/$(1)/obj/cli/main.o build/$(1)/libwesar.a
	$$(CC) $$(CFLAGS_$(1)) $$^ -o $$@ $$(LDLIBS) $$(LIBS_$(1))
build/$(1)/%: build/$(1)/obj/tests/%.o build/$(1)/libwesar.a
	$$(CC) $$(CFLAGS_$(1)) $$^ -o $$@ $$(LDLIBS) $$(LIBS_$(1))
endef
$(foreach v,$(VARIANTS),$(eval $(call variant,$(v))))

# libFuzzer targets (clang): the library again, instrumented, without OpenMP
FUZZ_CC ?= clang
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) $(BLAS_CFLAGS) -g -O1 \
               -fsanitize=address,undefined -fno-sanitize-recover=all
build/fuzz/obj/%.o: src/%.c $(HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
build/fuzz/libwesar.a: $(patsubst src/%.c,build/fuzz/obj/%.o,$(SRC))
	@rm -f $@
	ar rcs $@ $^
build/fuzz/%: fuzz/%.c fuzz/fuzz_common.h build/fuzz/libwesar.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< build/fuzz/libwesar.a -o $@ $(BLAS_LIBS) -lcjson -lpcre2-8 -llzma -lz -lzstd -lm
fuzz: $(addprefix build/fuzz/,$(FUZZ_TARGETS))

# bench/speed.sh's ceilings: OpenBLAS sgemm and the bf16 kernel
build/release/gemm_peak: bench/gemm_peak.c build/release/libwesar.a $(HDR)
	$(CC) $(CFLAGS_BASE) $(CFLAGS_release) -Isrc bench/gemm_peak.c build/release/libwesar.a -o $@ $(LDLIBS) $(LIBS_release)
# bench/gemm.sh: the step's products on OpenBLAS, BLIS, oneDNN and the bf16 kernel (libdnnl-dev, libblis-dev)
build/release/gemm_shapes: bench/gemm_shapes.c build/release/libwesar.a $(HDR)
	$(CC) $(CFLAGS_BASE) $(CFLAGS_release) -Isrc bench/gemm_shapes.c build/release/libwesar.a -o $@ -ldl $(LDLIBS) $(LIBS_release)

# bench/attention_bench.c: the attention kernel alone, against the sgemm ceiling
build/release/attention_bench: bench/attention_bench.c build/release/libwesar.a $(HDR)
	$(CC) $(CFLAGS_BASE) $(CFLAGS_release) -Isrc bench/attention_bench.c build/release/libwesar.a -o $@ $(LDLIBS) $(LIBS_release)
# bench/crc32.c: the checkpoint checksum, wesar's table against zlib's
build/release/crc32_bench: bench/crc32.c build/release/libwesar.a $(HDR)
	$(CC) $(CFLAGS_BASE) $(CFLAGS_release) -Isrc bench/crc32.c build/release/libwesar.a -o $@ $(LDLIBS) $(LIBS_release)

build/wesar: build/release/wesar
	ln -sf release/wesar $@

test: build/release/wesar build/fp64/test_grad $(addprefix build/release/,$(TESTS)) \
      build/asan/wesar $(addprefix build/asan/,$(TESTS)) $(addprefix build/fuzz/,$(FUZZ_TARGETS))
	tests/run.sh

test-fast: build/release/wesar build/fp64/test_grad $(addprefix build/release/,$(TESTS))
	WESAR_SKIP_ASAN=1 WESAR_SKIP_LONG=1 WESAR_SKIP_FUZZ=1 tests/run.sh

clean:
	rm -rf build
