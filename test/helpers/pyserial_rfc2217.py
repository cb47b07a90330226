"""A real third-party RFC 2217 client for the re-export tests: pyserial's rfc2217:// URL handler.

usage: python3 pyserial_rfc2217.py URL STEP...
steps: send_break | break_on | break_off | sleep:SECONDS | write:TEXT | expect:TEXT (read until seen, 10 s)
       | modem (reads .cts .dsr .ri .cd into the outcome's "lines") | read:SECONDS (all bytes read, "data")
prints one JSON object: the open time and each step's outcome (an exception is an outcome, not a crash).
"""
import json
import sys
import time

import serial

url, steps = sys.argv[1], sys.argv[2:]
started = time.monotonic()
port = serial.serial_for_url(url, timeout=0.1)
result = {"openSeconds": time.monotonic() - started, "steps": []}
seen = b""
for step in steps:
    kind, _, arg = step.partition(":")
    outcome = {"step": step, "ok": True}
    started = time.monotonic()
    try:
        if kind == "send_break":
            port.send_break(0.25)
        elif kind == "break_on":
            port.break_condition = True
        elif kind == "break_off":
            port.break_condition = False
        elif kind == "sleep":
            time.sleep(float(arg))
        elif kind == "modem":
            outcome["lines"] = {"cts": port.cts, "dsr": port.dsr, "ri": port.ri, "cd": port.cd}
        elif kind == "read":
            deadline = time.monotonic() + float(arg)
            while time.monotonic() < deadline:
                seen += port.read(4096)
            outcome["data"] = seen.decode("latin1")
            seen = b""
        elif kind == "write":
            port.write(arg.encode("latin1"))
        elif kind == "expect":
            deadline = time.monotonic() + 10
            while arg.encode("latin1") not in seen and time.monotonic() < deadline:
                seen += port.read(4096)
            outcome["ok"] = arg.encode("latin1") in seen
            seen = seen[seen.find(arg.encode("latin1")) + len(arg) :] if outcome["ok"] else b""
        else:
            raise ValueError("unknown step " + step)
    except Exception as err:  # noqa: BLE001 - the test asserts on it
        outcome = {"step": step, "ok": False, "error": type(err).__name__ + ": " + str(err)}
    outcome["seconds"] = time.monotonic() - started
    result["steps"].append(outcome)
port.close()
print(json.dumps(result))
