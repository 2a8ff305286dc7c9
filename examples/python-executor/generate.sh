#!/bin/sh
# Regenerates the protobuf message modules in py_echo/ with protoc
# (Debian: apt-get install protobuf-compiler; 3.21.12 matches
# python3-protobuf 3.21.12). Commit the results. Only the messages are
# generated: the gRPC service glue is hand-written (jobgraph_executor.py,
# goplugin.py), so grpc_tools is not needed.
set -eu
cd "$(dirname "$0")"
protoc -I ../../plugins/proto/executor/v1 --python_out=py_echo executor.proto
protoc -I proto --python_out=py_echo health.proto
