"""The engine: the runner and its steps, per-sample record store, data parallelism, config hashes, manifest.

May import the contracts (api, errors, registry), data/ and reports/ (result formats, leaderboard);
tasks and adapters only through the registry. Nothing below it imports the engine.
"""
