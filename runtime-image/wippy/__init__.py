"""Wippy: a Kubernetes-native Python implementation of the Wippy actor runtime."""

__version__ = "0.1.0"  # pyproject.toml's version and the Helm chart's appVersion (a test keeps them equal)
