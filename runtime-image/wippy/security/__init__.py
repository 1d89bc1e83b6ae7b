"""Actors, scopes and policies (reference §6): who may do what, checked before it runs."""
