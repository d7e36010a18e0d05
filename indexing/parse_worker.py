"""A parse worker: reads pickled (load, item) requests on stdin, writes each result, pickled, on stdout.

Run by `indexing.parse_pool`; not a command for people. Anything a library prints goes to stderr, so
that it cannot corrupt the answers.
"""

from __future__ import annotations

import os
import pickle
import sys


def main() -> None:
    requests = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # native code printing to fd 1 lands on stderr
    while True:
        try:
            load, item = pickle.load(requests)
        except EOFError:
            return
        try:
            result = load(item)
        except Exception as err:  # handed back to the indexer, which decides
            result = err
        try:
            data = pickle.dumps(result)
        except Exception as err:  # an exception that cannot be pickled travels as its text
            data = pickle.dumps(RuntimeError(f"{type(result).__name__}: {result} ({err})"))
        answers.write(data)
        answers.flush()


if __name__ == "__main__":
    main()
