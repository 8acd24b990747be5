"""The thin layer that touches JS-shaped values (fetch responses, R2 objects, SQL cursors).

Everything above it works with plain Python values and can be unit-tested without a runtime.
"""
