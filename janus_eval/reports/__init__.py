"""Result files and what reads them: the result and per-sample record formats, published-number
comparisons, the leaderboard, compare, and imports of official evaluators' outputs.

May import api, errors, the registry (tasks through it), data and rules; never the engine or the CLI.
"""
