# jobgraph — build, run and test. `make run` and `make test` are the quick start.

GO        ?= go
BIN       := bin/jobgraph
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
GOFLAGS_TEST ?= -race -count=1 -timeout 15m

# The web console (see `make web`).
WEB_SRC := $(shell find web/src -type f -not -path 'web/src/gql/*' 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json web/codegen.ts
WEB_BIN := web/node_modules/.bin
NPM     := $(shell command -v npm 2>/dev/null)
# `make build` (and so `make run`) builds the console when npm is there;
# without it, the binary serves a page saying how to build it.
CONSOLE := $(if $(NPM),web,console-missing)

.PHONY: all build run test deps check fmt vet generate check-generated proto clean web web-test console-missing

all: build

## build: compile bin/jobgraph (pure Go: no cgo needed), with the web console
## built first when its sources changed (when npm is there)
build: $(CONSOLE)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/jobgraph

## run: build and start the server on embedded defaults (SQLite in ./data)
run: build
	./$(BIN) server $(ARGS)

## test: the whole test suite, with the race detector, against SQLite, MariaDB,
## PostgreSQL and a real sshd; installs the Debian packages it needs when missing
test: deps web web-test
	$(GO) test $(GOFLAGS_TEST) ./...

## deps: the Debian packages the tests need (see .ci/deps)
deps:
	@bash .ci/deps

## check: formatting, vet, and generated code up to date
check: fmt vet check-generated

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## generate: regenerate the GraphQL executor and models from schema/*.graphqls
generate:
	$(GO) run github.com/99designs/gqlgen generate

check-generated: generate
	@git diff --exit-code -- graph gqlgen.yml || { echo "generated code is stale: run 'make generate' and commit"; exit 1; }

## proto: regenerate the plugin protocol's Go code (needs protoc: apt-get install protobuf-compiler)
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
proto:
	GOBIN=$(CURDIR)/bin/tools $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(CURDIR)/bin/tools $(GO) install $(PROTOC_GEN_GO_GRPC)
	protoc --plugin=protoc-gen-go=bin/tools/protoc-gen-go --plugin=protoc-gen-go-grpc=bin/tools/protoc-gen-go-grpc \
		--go_out=. --go_opt=module=github.com/jobgraph/jobgraph \
		--go-grpc_out=. --go-grpc_opt=module=github.com/jobgraph/jobgraph \
		plugins/proto/executor/v1/executor.proto

## web: build the web console into web/dist (npm ci when package-lock.json
## changed, codegen from schema/*.graphqls, tsc, vite build), when its
## sources are newer than the last build. Needs Node.js 20.19+ and npm.
web: web/dist/index.html

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web/src/gql/graphql.ts: web/node_modules/.installed web/codegen.ts $(wildcard schema/*.graphqls) $(WEB_SRC)
	cd web && $(CURDIR)/$(WEB_BIN)/graphql-codegen --config codegen.ts --silent
	@touch $@

web/dist/index.html: web/src/gql/graphql.ts $(WEB_SRC)
	cd web && $(CURDIR)/$(WEB_BIN)/tsc --noEmit -p . && $(CURDIR)/$(WEB_BIN)/vite build --logLevel warn

## web-test: the console's unit tests (vitest); the browser test is
## TestE2EConsole in cmd/jobgraph, which `go test ./...` runs
web-test: web/src/gql/graphql.ts
	cd web && $(CURDIR)/$(WEB_BIN)/vitest run

console-missing:
	@echo "note: npm not found: building without the web console (install Node.js 20.19+, then make web)" >&2

clean:
	rm -rf bin
