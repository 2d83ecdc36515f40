"""Data: loading rows (hub, local folder, demo rows), canonical remote files, image decoding, sample ids,
hashes and fingerprints, sidecar arrays beside a sample's outputs, and the cache folder.

May import only api and errors.
"""
