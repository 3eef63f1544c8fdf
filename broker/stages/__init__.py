"""The engine's stages: submit, publish, collect, review, quality, consolidate, auto-label,
output and finalize, each a tick over the DB.

Stages meet only through rows (a status one stage leaves, the next one claims); they never
import each other. Marketplace actions several of them need live in broker.actions.
"""
