"""Ingestion: files read by format (loaders), then cut into passages with metadata (passages)."""
