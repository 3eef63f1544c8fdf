"""Crash-safe marketplace actions that several stages and commands share; they import no stage."""
