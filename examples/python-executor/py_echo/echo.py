"""py-echo: the example executor's actions.

- say: write a text to stdout and export it as the output "text".
- sleep: write a line, then a dot every 100 ms for the given number of
  seconds, or until the task is cancelled or times out.

Each action is a JSON Schema of its parameters and a function
run(task, out) -> Result. jobgraph_executor.py checks the parameters against the
schema before calling it, so task.params is a dict of the declared shape.
"""

import time

from jobgraph_executor import Action, Executor, Result

NAME = "py-echo"
VERSION = "1.0.0"

SAY_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {
            "type": "string",
            "maxLength": 1 << 20,
            "description": "What to write to stdout (a newline is added). Exported as the output \"text\" too.",
        },
    },
    "required": ["text"],
    "additionalProperties": False,
}

SLEEP_SCHEMA = {
    "type": "object",
    "properties": {
        "seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 86400,
            "description": "How long to sleep, in seconds (fractions allowed).",
        },
    },
    "required": ["seconds"],
    "additionalProperties": False,
}


def say(task, out):
    text = task.params["text"]
    out.stdout(text + "\n")
    out.output("text", text)
    return Result.succeeded()


def sleep(task, out):
    seconds = task.params["seconds"]
    # Say something at once: the console shows the task started, and the
    # conformance kit's cancellation checks wait for a first output.
    out.stdout("sleeping %gs\n" % seconds)
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            out.stdout("\ndone\n")
            return Result.succeeded()
        if task.wait(min(0.1, left)):  # True once cancelled or timed out
            out.stdout("\n")
            return task.stopped_result()
        out.stdout(".")


def new_executor():
    return Executor(
        name=NAME,
        version=VERSION,
        description="Says what it is told, or sleeps; an example of an executor plugin written in Python.",
        actions=[
            Action("say", "Write a text to stdout and export it as the output \"text\".", SAY_SCHEMA, say),
            Action("sleep", "Write a dot every 100 ms for the given number of seconds; stops at once when cancelled.",
                   SLEEP_SCHEMA, sleep),
        ])
