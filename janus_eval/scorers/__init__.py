"""Model-based scorers: GenEval's detector backends (one factory, `detector.build_detector`) and colour
classifier, FID's feature extractors and reference statistics, and the tiny offline versions of each.

May import api, errors, data and rules; never a task, an adapter or the engine.
"""
