# Convenience targets; each calls a script in scripts/ (the README's commands).
#   make test                   whole suite (bootstraps the venvs first)
#   make demo                   the embedded demo (node fed by a shipped bag)
#   make bench [BENCH_ARGS=...] haze_bench (classical + model suites; see docs)
#   make gpu-check [OUT=dir]    GPU tests + model benchmark report (needs a CUDA GPU; exit 3 without)
SHELL := /bin/bash
OUT ?= out/gpu_check
BENCH_ARGS ?=

.PHONY: test demo bench gpu-check

test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

bench:
	./scripts/bootstrap.sh && . scripts/env.sh && haze_bench $(BENCH_ARGS)

gpu-check:
	./scripts/gpu_check.sh $(OUT)
