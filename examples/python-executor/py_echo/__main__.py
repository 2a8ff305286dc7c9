#!/usr/bin/python3 -I
"""py-echo, a jobgraph executor plugin in Python.

jobgraph starts it (as a zipapp built by build.sh, or as
`/usr/bin/python3 py_echo`); run by hand, it refuses. See ../README.md.
"""

import goplugin

goplugin.check_environment("py-echo")  # before anything that needs grpc

import echo  # noqa: E402  (needs grpc and protobuf, checked above)

executor = echo.new_executor()
goplugin.serve([executor.handler()], on_shutdown=executor.stop_all)
