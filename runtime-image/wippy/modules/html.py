"""Python side of the `html` module: bluemonday-style policies applied with nh3 (ammonia).

A policy arrives as a plain table: allowed elements, attributes per element ("*" for all)
with optional value patterns, URL rules and link decorations. ammonia parses and
re-serializes, so the output is always well-formed; script/style content is dropped.
"""
from __future__ import annotations

import re
import urllib.parse
import nh3

from ..engine.errors import INVALID, WippyError
from . import offload
from .rx import linear_regex

# attributes that hold URLs (bluemonday's linkable attributes)
_URL_ATTRS = {"href", "src", "cite", "action", "longdesc", "usemap", "poster", "background",
              "codebase", "formaction", "icon", "manifest", "profile", "classid", "archive", "data"}
_LINK_TAGS = {"a", "area", "link"}
_DATA_IMAGE = re.compile(r"^data:image/(png|jpe?g|gif|webp|bmp);base64,[A-Za-z0-9+/]+=*$", re.I)
_A_TAG = re.compile(r"<(a|area|link)\b([^>]*)>", re.I)
_ATTR = re.compile(r'\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)="([^"]*)"')


# What one sanitize call may take. Past a few hundred levels of nesting html5ever's tree building
# grows much faster than the input (16k nested <div><span> took 10s): browsers stop nesting at 512
# (Blink), here a deeper document is refused. Any document is sanitized in seconds per MB, so
# beyond INLINE_BYTES it is read in a worker thread (offload.py; nh3 releases the GIL).
# (the size limit is the host's max_html_bytes; the depth is the parser's, fixed)
MAX_DEPTH = 512
INLINE_BYTES = 16 * 1024

# elements that never hold others, or whose end tag the parser implies when a sibling opens
_NOT_NESTING = frozenset(
    "area base br col embed hr img input link meta source track wbr param keygen frame basefont bgsound "
    "p li dt dd option optgroup tr td th thead tbody tfoot colgroup caption rb rt rtc rp html head body".split())
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")


def _check_size(text: str, max_bytes: int) -> None:
    if max_bytes and len(text) > max_bytes:
        raise WippyError(INVALID, f"document of {len(text)} bytes is larger than the sanitizer's limit of "
                                  f"{max_bytes} bytes (max_html_bytes)")
    depth = 0
    for m in _TAG.finditer(text):
        if m.group(2).lower() in _NOT_NESTING:
            continue
        if m.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > MAX_DEPTH:
                raise WippyError(INVALID, f"document nests elements deeper than the sanitizer's limit of "
                                          f"{MAX_DEPTH} levels")


def _regex(pattern: str):
    return linear_regex(pattern)


def check_pattern(pattern: str) -> bool:
    try:
        _regex(pattern)
    except ValueError as e:
        raise WippyError(INVALID, f"invalid attribute pattern {pattern!r}: {e}") from None
    return True


def _fully_qualified(url: str) -> bool:
    try:
        u = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return bool(u.scheme and u.netloc)


def _decorate_links(out: str, rel: list[str], target_blank: bool) -> str:
    def fix(m):
        tag, attrs = m.group(1), m.group(2)
        pairs = _ATTR.findall(attrs)
        href = next((v for k, v in pairs if k == "href"), None)
        if href is None:
            return m.group(0)
        values = dict(pairs)
        if rel:
            have = values.get("rel", "").split()
            values["rel"] = " ".join(have + [r for r in rel if r not in have])
        if target_blank and tag.lower() == "a" and _fully_qualified(href.replace("&amp;", "&")):
            values["target"] = "_blank"
        body = "".join(f' {k}="{v}"' for k, v in values.items())
        tail = "/" if attrs.rstrip().endswith("/") else ""
        return f"<{tag}{body}{tail}>"
    return _A_TAG.sub(fix, out)


def sanitize(text: str, policy: dict) -> str:
    elements = set(policy.get("elements") or [])
    attrs: dict[str, set] = {}
    patterns: dict[tuple[str, str], list[str]] = {}
    for rule in policy.get("attrs") or []:
        for el in rule.get("on") or ["*"]:
            for name in rule.get("names") or []:
                attrs.setdefault(el, set()).add(name)
                if rule.get("pattern"):
                    patterns.setdefault((el, name), []).append(rule["pattern"])
    schemes = {s.lower() for s in policy.get("schemes") or []}
    relative = bool(policy.get("relative"))
    parseable = bool(policy.get("parseable"))
    data_images = bool(policy.get("data_images"))

    def url_ok(element: str, value: str) -> bool:
        v = value.strip()
        if data_images and element == "img" and v[:5].lower() == "data:":
            return bool(_DATA_IMAGE.match(v))
        if not parseable:
            return True
        try:
            u = urllib.parse.urlsplit(v)
        except ValueError:
            return False
        if not u.scheme:
            return relative
        return u.scheme.lower() in schemes

    def attribute_filter(element: str, name: str, value: str):
        pats = patterns.get((element, name), []) + patterns.get(("*", name), [])
        allowed_plain = name in attrs.get(element, ()) and (element, name) not in patterns or \
            name in attrs.get("*", ()) and ("*", name) not in patterns
        if pats and not allowed_plain and not any(_regex(p).search(value) for p in pats):
            return None
        if name in _URL_ATTRS and not url_ok(element, value):
            return None
        return value

    url_schemes = set(nh3.ALLOWED_URL_SCHEMES) | schemes
    if data_images:
        url_schemes.add("data")
    out = nh3.clean(text, tags=elements, clean_content_tags={"script", "style"} - elements,
                    attributes={k: v for k, v in attrs.items()}, attribute_filter=attribute_filter,
                    link_rel=None, url_schemes=url_schemes, url_relative="pass_through")
    rel = [r for r, on in (("nofollow", policy.get("nofollow")), ("noreferrer", policy.get("noreferrer"))) if on]
    if rel or policy.get("target_blank"):
        out = _decorate_links(out, rel, bool(policy.get("target_blank")))
    return out


def _checked_sanitize(text: str, policy: dict, max_bytes: int) -> str:
    _check_size(text, max_bytes)
    return sanitize(text, policy)


def install(engine):
    def py_sanitize(text, policy):
        return _checked_sanitize(text, engine.py(policy), engine.max_html_bytes)

    async def sanitize_off(text, policy):
        return await offload.run(_checked_sanitize, text, engine.py(policy), engine.max_html_bytes)
    return {"sanitize": py_sanitize, "sanitize_off": sanitize_off, "check_pattern": check_pattern,
            "inline_bytes": INLINE_BYTES}
