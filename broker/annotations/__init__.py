"""Structured answers (boxes, masks, text spans): reading them from the crowd elements and consolidating them."""
