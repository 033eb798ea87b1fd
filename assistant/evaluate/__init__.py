"""Batch evaluation: question files in (inputs, squad), answers scored (run, scoring,
metrics), summary and report out (report)."""
