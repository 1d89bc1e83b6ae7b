"""Loading applications from folders of definition files."""

from wippy.loader.definition import FileResult, load_file
from wippy.loader.errors import LoadError
from wippy.loader.file_source import FileSource
from wippy.loader.interpolate import InterpolationError, resolve_env
from wippy.loader.overrides import Override, OverrideError, apply_overrides, parse_override
from wippy.loader.tree import LoadResult, combine, discover, load_tree

__all__ = [
    "FileResult", "FileSource", "InterpolationError", "LoadError", "LoadResult", "Override",
    "OverrideError", "apply_overrides", "combine", "discover", "load_file", "load_tree",
    "parse_override", "resolve_env",
]
