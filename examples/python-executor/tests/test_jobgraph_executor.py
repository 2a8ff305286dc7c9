"""Unit tests of the protocol glue (py_echo/jobgraph_executor.py), for
what the conformance kit cannot provoke with py-echo's well-behaved
actions. Run with Debian's Python:

    /usr/bin/python3 -I -B -m unittest discover -s tests

jobgraph's Go tests run them too (plugins/sdk/sdktest/examples_test).
"""

import io
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py_echo"))

import executor_pb2 as pb  # noqa: E402
import goplugin  # noqa: E402
import jobgraph_executor as je  # noqa: E402


class FakeContext:
    """The part of grpc.ServicerContext that Executor.execute uses."""

    def __init__(self):
        self.callbacks = []

    def add_callback(self, callback):
        self.callbacks.append(callback)
        return True

    def end(self):  # what gRPC does when the call ends (or the host cancels it)
        for callback in self.callbacks:
            callback()

    def abort(self, code, details):
        raise RuntimeError("abort %s: %s" % (code, details))


def ignores_stop(task, out):
    out.stdout("started\n")
    time.sleep(1.0)  # neither task.wait nor task.stopped: a misbehaving run
    return je.Result.succeeded()


def raises(task, out):
    raise ValueError("no luck")


def waits(task, out):
    out.stdout("waiting\n")
    while not task.wait(0.05):
        pass
    return task.stopped_result()


SCHEMA = {"type": "object", "additionalProperties": False}


def executor():
    return je.Executor("test", "1.0.0", "for tests", [
        je.Action("ignores-stop", "", SCHEMA, ignores_stop),
        je.Action("raises", "", SCHEMA, raises),
        je.Action("waits", "", SCHEMA, waits),
    ])


def request(action, params=b"{}", task_id="t1", timeout_ms=0, credential=None):
    r = pb.ExecuteRequest(task_id=task_id, action=action, params_json=params, timeout_ms=timeout_ms)
    if credential is not None:
        r.credential.CopyFrom(credential)
    return r


class ExecuteTest(unittest.TestCase):
    def setUp(self):
        goplugin._stderr = io.StringIO()  # keep the log lines for the assertions
        self.grace = je.STOP_GRACE_SECONDS
        je.STOP_GRACE_SECONDS = 0.2

    def tearDown(self):
        je.STOP_GRACE_SECONDS = self.grace
        goplugin._stderr = sys.stderr

    def run_all(self, ex, req, ctx=None):
        events = list(ex.execute(req, ctx or FakeContext()))
        self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
        self.assertEqual([e.HasField("result") for e in events], [False] * (len(events) - 1) + [True])
        return events

    def test_unknown_action(self):
        events = self.run_all(executor(), request("nope"))
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0].result.status, pb.STATUS_ERROR)
        self.assertEqual(events[0].result.error, "test has no action 'nope'")

    def test_bad_json(self):
        for params in (b"[]", b"{", b"null", b'"x"', b'{"a": 1}', b"\xff"):
            events = self.run_all(executor(), request("waits", params))
            self.assertEqual(events[-1].result.status, pb.STATUS_ERROR, params)

    def test_exception_is_an_error_result(self):
        events = self.run_all(executor(), request("raises"))
        self.assertEqual(events[-1].result.status, pb.STATUS_ERROR)
        self.assertEqual(events[-1].result.error, "ValueError: no luck")
        self.assertIn("no luck", goplugin._stderr.getvalue())

    def test_timeout_of_a_run_that_ignores_it(self):
        start = time.monotonic()
        events = self.run_all(executor(), request("ignores-stop", timeout_ms=100))
        took = time.monotonic() - start
        self.assertEqual(events[-1].result.status, pb.STATUS_TIMED_OUT)
        self.assertGreaterEqual(took, 0.1)
        self.assertLess(took, 0.9, "abandoned after STOP_GRACE_SECONDS, not when the run returns")
        self.assertIn("abandoned", goplugin._stderr.getvalue())

    def test_cancel_rpc(self):
        ex = executor()
        stream = ex.execute(request("waits", task_id="c1"), FakeContext())
        self.assertEqual(next(stream).log.data, b"waiting\n")
        ex.cancel(pb.CancelRequest(task_id="c1"), None)
        ex.cancel(pb.CancelRequest(task_id="unknown"), None)  # not an error
        rest = list(stream)
        self.assertEqual(rest[-1].result.status, pb.STATUS_CANCELED)
        self.assertEqual(ex._running, {})

    def test_host_cancels_the_call(self):
        ex, ctx = executor(), FakeContext()
        stream = ex.execute(request("waits", task_id="g1"), ctx)
        next(stream)
        ctx.end()
        self.assertEqual(list(stream), [], "nobody reads a cancelled call: no result")
        self.assertEqual(ex._running, {})

    def test_same_task_twice(self):
        ex = executor()
        first = ex.execute(request("waits", task_id="d1"), FakeContext())
        next(first)
        with self.assertRaisesRegex(RuntimeError, "ALREADY_EXISTS"):
            next(ex.execute(request("waits", task_id="d1"), FakeContext()))
        ex.stop_all()
        self.assertEqual(list(first)[-1].result.status, pb.STATUS_CANCELED)

    def test_credential_is_not_printed(self):
        cred = pb.Credential(kind="password", username="ops", secret=b"hunter2", passphrase=b"swordfish")
        task = je.Task(request("waits", credential=cred), {})
        for text in (repr(task.credential), str(task.credential), repr(task)):
            self.assertNotIn("hunter2", text)
            self.assertNotIn("swordfish", text)
        self.assertEqual(task.credential.secret, b"hunter2")

    def test_long_output_is_chunked(self):
        events = []

        class Q:
            put = events.append

        je.Output(Q).stdout("x" * (je.MAX_CHUNK * 2 + 1))
        self.assertEqual([len(e.log.data) for e in events], [je.MAX_CHUNK, je.MAX_CHUNK, 1])


class SchemaTest(unittest.TestCase):
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 3},
            "x": {"type": "number"},
            "s": {"type": "string", "minLength": 1, "maxLength": 3, "enum": ["a", "bb", "ccc", "dddd"]},
            "m": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["n"],
        "additionalProperties": False,
    }

    def problems(self, value):
        return je.validate_schema(self.schema, value)

    def test_valid(self):
        self.assertEqual(self.problems({"n": 2, "x": 1.5, "s": "bb", "m": {"k": "v"}}), [])
        self.assertEqual(self.problems({"n": 2.0}), [], "2.0 is an integer in JSON Schema")

    def test_invalid(self):
        cases = [
            ([], [("", "got array, want object")]),
            ({}, [("n", "missing")]),
            ({"n": True}, [("n", "got boolean, want integer")]),
            ({"n": 1.5}, [("n", "got number, want integer")]),
            ({"n": 0}, [("n", "must be >= 1")]),
            ({"n": 4}, [("n", "must be <= 3")]),
            ({"n": 1, "x": "1"}, [("x", "got string, want number")]),
            ({"n": 1, "s": ""}, [("s", 'must be one of ["a", "bb", "ccc", "dddd"]'), ("s", "must be at least 1 characters")]),
            ({"n": 1, "s": "dddd"}, [("s", "must be at most 3 characters")]),
            ({"n": 1, "m": {"k": 1}}, [("m.k", "got integer, want string")]),
            ({"n": 1, "zz": 1}, [("zz", "unknown parameter")]),
        ]
        for value, want in cases:
            self.assertEqual(self.problems(value), want, value)


class DescribeTest(unittest.TestCase):
    def test_py_echo(self):
        import echo
        r = echo.new_executor().describe(None, None)
        self.assertEqual(r.name, "py-echo")
        self.assertEqual(list(r.protocol_versions), [goplugin.APP_PROTOCOL_VERSION])
        self.assertEqual([a.name for a in r.actions], ["say", "sleep"])


if __name__ == "__main__":
    unittest.main()
