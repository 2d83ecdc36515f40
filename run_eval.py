#!/usr/bin/env python
"""Thin entry point: `python run_eval.py --model janus-tiny --tasks mme,pope --data demo`."""

import sys

from janus_eval.cli import main

if __name__ == "__main__":
    sys.exit(main())
