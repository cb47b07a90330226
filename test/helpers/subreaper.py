"""Runs a command as a child subreaper, for daemons that fork and do not wait for their children.

usage: python3 subreaper.py COMMAND [ARG...]  (or python3 -c "$(cat subreaper.py)" COMMAND [ARG...])
Processes orphaned under this one are re-parented to it (prctl PR_SET_CHILD_SUBREAPER) instead of to
init, which in a container may never reap them. SIGTERM is passed on to COMMAND. Exits, with
COMMAND's exit code, only once COMMAND and every process left behind by it have exited and been reaped.
"""
import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36

if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit(f"subreaper: prctl: {os.strerror(ctypes.get_errno())}")

pid = None


def forward(signum, _frame):
    if not pid:  # not forked yet, or the child before its exec (kill(0) would signal our group)
        return
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


# Before the fork: a SIGTERM that comes early must not kill this process and leave COMMAND behind.
signal.signal(signal.SIGTERM, forward)
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)

code = 0
while True:
    try:
        reaped, status = os.wait()
    except ChildProcessError:
        break
    if reaped == pid:
        code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
