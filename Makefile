# jobgraph — build, run and test. `make run` and `make test` are the quick start.

GO        ?= go
BIN       := bin/jobgraph
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
GOFLAGS_TEST ?= -race -count=1 -timeout 15m

.PHONY: all build run test deps check fmt vet generate check-generated proto clean

all: build

## build: compile bin/jobgraph (pure Go: no cgo needed)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/jobgraph

## run: build and start the server on embedded defaults (SQLite in ./data)
run: build
	./$(BIN) server $(ARGS)

## test: the whole test suite, with the race detector, against SQLite, MariaDB,
## PostgreSQL and a real sshd; installs the Debian packages it needs when missing
test: deps
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

clean:
	rm -rf bin
