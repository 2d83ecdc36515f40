"""Protocol pieces that tasks share: the multiple-choice prompt, single-turn requests, the yes/no task base,
the generation options and image requests of the text-to-image tasks.

May import api, errors, data and rules.
"""
