"""Tiny inline-SVG example pictures for the tools' default instructions (no image files to host)."""

from __future__ import annotations

BOX = '<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>'
PAINT = '<circle cx="60" cy="38" r="{}" fill="#ff7f0e" fill-opacity="0.7"/>'


def sketch(shapes: str, caption: str) -> str:
    """A red ball on a blue sky with `shapes` drawn over it, and a caption."""
    return (
        '<svg viewBox="0 0 120 70" width="144" height="84" role="img">'
        '<rect width="120" height="70" fill="#cfe3f5"/><circle cx="60" cy="38" r="20" fill="#d9534f"/>'
        f"{shapes}</svg><p>{caption}</p>"
    )
