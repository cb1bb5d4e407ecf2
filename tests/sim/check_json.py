#!/usr/bin/env python3
"""Runs sippeer-sim scenarios for ctest and says exactly why one failed.

  check_json.py run [--expect EXPR]... -- SIM ARGS...
      Runs the simulator, requires exactly one JSON object on stdout and
      checks every EXPR, a Python expression over the JSON fields (with
      log2, sqrt, ceil, floor), e.g. "mean_hops <= 0.5*log2(nodes) + 0.5".

  check_json.py repeat -- SIM ARGS...
      Runs the simulator twice; the outputs must match except for wall
      time and memory (runs are deterministic for a seed).

  check_json.py bad-args SIM
      Impossible arguments must exit 2 with one line on stderr naming the
      flag; --help must exit 0.
"""

import json
import math
import subprocess
import sys

VARYING = {"wall_seconds", "lookup_wall_seconds", "peak_rss_mb"}

BAD_ARGS = [
    # (arguments, text the one-line error must contain)
    ([], "--nodes"),
    (["--nodes"], "--nodes"),
    (["--nodes", "0"], "--nodes"),
    (["--nodes", "abc"], "--nodes"),
    (["--nodes", "10x"], "--nodes"),
    (["--nodes", "99999999999999999999999"], "--nodes"),
    (["--nodes", "10", "--bits", "2"], "--bits"),
    (["--nodes", "10", "--bits", "161"], "--bits"),
    (["--nodes", "33", "--bits", "5"], "--bits"),
    (["--nodes", "10", "--fail", "1"], "--fail"),
    (["--nodes", "10", "--fail", "-0.1"], "--fail"),
    (["--nodes", "10", "--loss", "1.5"], "--loss"),
    (["--nodes", "10", "--churn", "1"], "--churn"),
    (["--nodes", "10", "--duration", "5"], "--duration"),
    (["--nodes", "10", "--churn", "-1", "--duration", "5"], "--churn"),
    (["--nodes", "10", "--latency-ms", "30-10"], "--latency-ms"),
    (["--nodes", "10", "--latency-ms", "30"], "--latency-ms"),
    (["--nodes", "10", "--successors", "4", "--replicas", "5"], "--replicas"),
    (["--nodes", "10", "--successors", "0"], "--successors"),
    (["--nodes", "10", "--stabilize-ms", "5"], "--stabilize-ms"),
    (["--nodes", "10", "--keys", "-1"], "--keys"),
    (["--nodes", "10", "--seed", "x"], "--seed"),
    (["--nodes", "10", "--frobnicate", "1"], "--frobnicate"),
    (["--nodes", "10", "stray"], "stray"),
]


def run_sim(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {proc.returncode}\n{proc.stderr}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        sys.exit(f"FAIL: expected one JSON line on stdout, got {len(lines)}:\n{proc.stdout}")
    try:
        data = json.loads(lines[0])
    except json.JSONDecodeError as e:
        sys.exit(f"FAIL: stdout is not JSON ({e}):\n{lines[0]}")
    if not isinstance(data, dict):
        sys.exit(f"FAIL: stdout is not a JSON object:\n{lines[0]}")
    return data


def split_command(argv):
    if "--" not in argv:
        sys.exit("usage: check_json.py run|repeat [--expect EXPR]... -- SIM ARGS...")
    i = argv.index("--")
    return argv[:i], argv[i + 1:]


def names_in(expr, data):
    return sorted(k for k in data if k in expr)


def cmd_run(argv):
    opts, cmd = split_command(argv)
    expects = []
    it = iter(opts)
    for opt in it:
        if opt != "--expect":
            sys.exit(f"check_json.py: unknown option {opt}")
        expects.append(next(it))
    data = run_sim(cmd)
    print(json.dumps(data))
    env = {"log2": math.log2, "sqrt": math.sqrt, "ceil": math.ceil, "floor": math.floor}
    failed = []
    for expr in expects:
        try:
            ok = eval(expr, {"__builtins__": {}}, {**env, **data})  # noqa: S307 (test input)
        except Exception as e:  # a missing field or a null value
            ok, why = False, f"cannot evaluate: {e}"
        else:
            why = ", ".join(f"{k}={data[k]}" for k in names_in(expr, data))
        print(f"{'ok  ' if ok else 'FAIL'} {expr}    ({why})")
        if not ok:
            failed.append(expr)
    if failed:
        sys.exit(f"FAIL: {len(failed)} of {len(expects)} expectations not met: " + "; ".join(failed))


def cmd_repeat(argv):
    _, cmd = split_command(argv)
    first, second = run_sim(cmd), run_sim(cmd)
    diff = [k for k in sorted(set(first) | set(second))
            if k not in VARYING and first.get(k) != second.get(k)]
    print(json.dumps(first))
    if diff:
        sys.exit("FAIL: two runs with one seed differ in: " +
                 ", ".join(f"{k} ({first.get(k)} vs {second.get(k)})" for k in diff))
    print("ok   two runs agree")


def cmd_bad_args(argv):
    if len(argv) != 1:
        sys.exit("usage: check_json.py bad-args SIM")
    sim = argv[0]
    problems = []
    for args, flag in BAD_ARGS:
        proc = subprocess.run([sim, *args, "--json"], capture_output=True, text=True)
        err = proc.stderr.strip().splitlines()
        shown = " ".join(args) or "(no arguments)"
        if proc.returncode != 2:
            problems.append(f"{shown}: exit {proc.returncode}, want 2")
        elif len(err) != 1:
            problems.append(f"{shown}: {len(err)} lines on stderr, want 1: {proc.stderr!r}")
        elif flag not in err[0]:
            problems.append(f"{shown}: stderr does not name {flag}: {err[0]!r}")
        elif proc.stdout.strip():
            problems.append(f"{shown}: printed on stdout: {proc.stdout!r}")
        else:
            print(f"ok   {shown}  ->  {err[0]}")
    proc = subprocess.run([sim, "--help"], capture_output=True, text=True)
    if proc.returncode != 0 or "usage" not in proc.stdout:
        problems.append(f"--help: exit {proc.returncode}, stdout {proc.stdout[:80]!r}")
    else:
        print("ok   --help")
    if problems:
        sys.exit("FAIL:\n  " + "\n  ".join(problems))


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "repeat", "bad-args"):
        sys.exit(__doc__)
    {"run": cmd_run, "repeat": cmd_repeat, "bad-args": cmd_bad_args}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
