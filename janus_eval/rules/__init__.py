"""Pure official scoring rules, reusable without any model: yes/no and option extraction, MMMU parsing,
GenEval decisions and summary, the Fréchet distance and FID's streaming statistics.

May import only api and errors; never a model library, a scorer, a task or the engine.
"""
