"""Python side of the `expr` module: the expression language (wippy.exprlang).

Evaluation is bounded (a step budget and size caps), so it runs inline on the loop."""
from __future__ import annotations

from ..engine.convert import NotConvertible
from ..engine.errors import INTERNAL, INVALID, WippyError
from ..exprlang import ExprRuntimeError, ExprSyntaxError, compile_cached, names, run
from ..exprlang.evaluate import BUILTINS


def install(engine):
    def tree_of(src):
        if not isinstance(src, str) or not src.strip():
            raise WippyError(INVALID, "expression is empty")
        try:
            return compile_cached(src)
        except ExprSyntaxError as e:
            raise WippyError(INTERNAL, f"expression syntax error: {e}") from None
        except RecursionError:
            raise WippyError(INVALID, "expression syntax error: nested too deeply") from None

    def env_of(env):
        if env is None:
            return {}
        try:
            value = engine.py(env)
        except NotConvertible as e:
            raise WippyError(INVALID, f"expression environment: {e}") from None
        if value == []:
            return {}
        if not isinstance(value, dict):
            raise WippyError(INVALID, "expression environment must be a table of names")
        return value

    def evaluate(src, env=None):
        tree = tree_of(src)
        try:
            result = run(tree, env_of(env))
        except ExprRuntimeError as e:
            raise WippyError(INTERNAL, f"expression evaluation failed: {e}") from None
        except RecursionError:
            raise WippyError(INTERNAL, "expression evaluation failed: nested too deeply") from None
        try:
            return engine.to_lua(result)
        except NotConvertible as e:
            raise WippyError(INTERNAL, f"expression result conversion failed: {e}") from None

    def check(src, env=None):
        """Compile: syntax, and with a type-hint environment, that every name it reads exists."""
        tree = tree_of(src)
        if env is not None:
            known = env_of(env)
            unknown = sorted(n for n in names(tree) if n not in known and n not in BUILTINS)
            if unknown:
                raise WippyError(INTERNAL, f"unknown name {unknown[0]} (not in the compile environment)")
        return True

    return {"eval": evaluate, "check": check}
