"""`wippy mcp`: a Model Context Protocol server through which an agent reads and changes a
running app under a scoped, revocable token (tokens.py), with the app doing the work (ops.py,
reached over its control socket) and every call recorded (audit.py)."""
