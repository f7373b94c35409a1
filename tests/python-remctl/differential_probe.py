# SPDX-License-Identifier: MIT
"""Run by test_differential.py in a child interpreter, once with Debian's
python3-pyremctl (its remctl.py, _remctl and libremctl) and once with ours:
executes the steps it is given (Python statements or expressions, one per
string) and prints, as one JSON list, what each gave: the value's type and
repr (a RemctlSimpleResult as its attributes), or the exception's class,
args and str.

stdin: {"steps": [...], "names": {...}} where names are globals the steps
use (hosts, ports, principals)."""

import json
import sys

import _remctl
import remctl


def describe(value):
    if isinstance(value, remctl.RemctlSimpleResult):
        return {"RemctlSimpleResult": {k: describe(v) for k, v in sorted(vars(value).items())}}
    if isinstance(value, (tuple, list)):
        return {type(value).__name__: [describe(v) for v in value]}
    if isinstance(value, (bytes, str, int, float, bool, type(None))):
        return [type(value).__name__, repr(value)]
    return [type(value).__name__]


def main():
    job = json.load(sys.stdin)
    scope = {"remctl": remctl, "_remctl": _remctl, **job["names"]}
    seen = []
    for step in job["steps"]:
        try:
            try:
                code = compile(step, "<step>", "eval")
            except SyntaxError:
                exec(compile(step, "<step>", "exec"), scope)
                outcome = "done"
            else:
                outcome = {"value": describe(eval(code, scope))}
        except Exception as e:  # the outcome to compare, whatever it is
            outcome = {"raised": f"{type(e).__module__}.{type(e).__qualname__}",
                       "args": [describe(a) for a in e.args], "str": str(e)}
        seen.append([step, outcome])
    json.dump(seen, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
