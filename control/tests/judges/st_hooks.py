"""Schemathesis hooks: tus chunks are raw bytes (application/offset+octet-stream)."""
import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
