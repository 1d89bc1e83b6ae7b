"""The expression language of Wippy's `expr` module (expr-lang syntax), shared by anything
that evaluates rule expressions. `compile` caches parsed programs by source (LRU)."""
from __future__ import annotations

from collections import OrderedDict

from .evaluate import ExprRuntimeError, evaluate, run
from .parser import ExprSyntaxError, names, parse

CACHE_SIZE = 1000
_cache: OrderedDict[str, tuple] = OrderedDict()


def compile_cached(src: str):
    tree = _cache.get(src)
    if tree is not None:
        _cache.move_to_end(src)
        return tree
    tree = parse(src)
    _cache[src] = tree
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return tree


__all__ = ["ExprRuntimeError", "ExprSyntaxError", "compile_cached", "evaluate", "names", "parse", "run"]
