#!/usr/bin/env python3
"""Runs a command the way systemd's MemoryDenyWriteExecute=yes would: with the kernel's
memory-deny-write-execute (prctl PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN; Linux >= 6.3, the
mechanism systemd >= 253 uses; systemd 252 installs an equivalent seccomp filter). Mappings
can no longer be writable and executable, nor become executable later: JIT compilers fail.

    mdwe-run.py COMMAND [ARGS...]
"""
import ctypes
import os
import sys

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit(f"mdwe-run: prctl(PR_SET_MDWE) failed: {os.strerror(ctypes.get_errno())} (Linux >= 6.3 needed)")
os.execvp(sys.argv[1], sys.argv[1:])
