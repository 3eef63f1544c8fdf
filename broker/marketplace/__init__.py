"""The embedded MTurk-compatible marketplace.

A separate service in spirit: it imports nothing from the rest of broker/.
"""
