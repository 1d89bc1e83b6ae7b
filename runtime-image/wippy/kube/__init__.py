"""Kubernetes: entries as custom resources (group wippy.ai), and the runtime's source that
watches them."""
