"""Protocol pieces that tasks share: the multiple-choice prompt, single-turn requests, the yes/no task base.

May import api, errors, data and rules.
"""
