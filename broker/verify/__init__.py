"""Label verification (bulk QA): batches of objects that share a label, one HIT per batch.

config: the spec's `verification:` block. inputs: the label and model confidence each manifest
line carries. batching: pending objects -> batches, and the HIT -> objects link. answers: one
assignment's answer -> a verdict per object. consolidate: verdicts -> binary labels with worker
quality (scoring.VerificationConsolidator).
"""
