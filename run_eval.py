#!/usr/bin/env python
"""Thin entry point: `python run_eval.py --model janus-tiny --tasks mme,pope --data demo`."""

import signal
import sys

from janus_eval.errors import exit_at_once

signal.signal(signal.SIGINT, exit_at_once)  # from the first moment: an early Ctrl-C exits 130, cleanly

from janus_eval.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
