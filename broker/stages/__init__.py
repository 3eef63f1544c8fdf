"""The daemon's stages: one module each, meeting only through rows in the broker DB."""
