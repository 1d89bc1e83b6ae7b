"""text module (lua/text/text.md): RE2 regexps with Go's conventions, diffs and patches,
recursive and markdown splitters; invalid patterns and options are `nil, err` (Invalid)."""
from __future__ import annotations

import pytest


async def run(app, body: str, *args):
    return await app.run("local text = require('text')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["text"])


async def test_compile_and_match(app):
    res = await run(app, """
    local re, err = text.regexp.compile("[0-9]+")
    local _, bad = text.regexp.compile("a(b")
    local _, bad2 = text.regexp.compile("(?<=x)y")   -- lookbehind is not RE2
    return {err == nil, re:match_string("abc123"), re:match_string("abc"), re:string(), tostring(re),
            bad:kind(), bad:retryable(), bad2:kind()}
    """)
    assert res == [True, True, False, "[0-9]+", "[0-9]+", "Invalid", False, "Invalid"]


async def test_find_functions(app):
    res = await run(app, r"""
    local re = text.regexp.compile("[0-9]+")
    local mail = text.regexp.compile("(\\w+)@(\\w+)\\.com")
    local kv = text.regexp.compile("(\\w)=(\\d)")
    return {re:find_string("abc123def"), re:find_string("abc") == nil,
            re:find_all_string("a1b22c333"), #re:find_all_string("abc"),
            mail:find_string_submatch("mail user@example.com now"), mail:find_string_submatch("none") == nil,
            kv:find_all_string_submatch("a=1 b=2"),
            re:find_string_index("abc123"), re:find_string_index("abc") == nil,
            re:find_all_string_index("a1b2c3"), re:find_all_string_index("abc") == nil}
    """)
    assert res == ["123", True, ["1", "22", "333"], 0,
                   ["user@example.com", "user", "example"], True,
                   [["a=1", "a", "1"], ["b=2", "b", "2"]],
                   [4, 6], True, [[2, 2], [4, 4], [6, 6]], True]


async def test_byte_offsets_and_utf8(app):
    # offsets are bytes, as in Go; '.' matches a whole UTF-8 character
    res = await run(app, """
    local re = text.regexp.compile("é.")
    local s = "aéb"
    local idx = re:find_string_index(s)
    return {idx, s:sub(idx[1], idx[2]), re:find_string(s)}
    """)
    assert res == [[2, 4], "éb", "éb"]


async def test_go_empty_match_rules(app):
    # Go ignores an empty match right after a previous match: "baaac" -> "", "aaa", ""
    res = await run(app, """
    local re = text.regexp.compile("a*")
    return {re:find_all_string("baaac"), re:replace_all_string("baaac", "-")}
    """)
    assert res == [["", "aaa", ""], "-b-c-"]


async def test_replace_expands_groups(app):
    res = await run(app, r"""
    local re = text.regexp.compile("(?P<key>\\w+)=(\\d+)")
    return {re:replace_all_string("a1b2", "X"),
            re:replace_all_string("x=1 y=22", "${2}:$key"),
            re:replace_all_string("x=1", "$$1 $9 $nope."),
            text.regexp.compile("[0-9]"):replace_all_string("a1b2", "X")}
    """)
    assert res == ["a1b2", "1:x 22:y", "$1  .", "aXbX"]


@pytest.mark.parametrize("s, n, expected", [
    ("a,b,c", -1, ["a", "b", "c"]),
    ("a,b,c", 2, ["a", "b,c"]),
    ("a,b,c", 0, []),
    ("", -1, [""]),
    (",a,", -1, ["", "a", ""]),
])
async def test_split(app, s, n, expected):
    assert await run(app, f"return text.regexp.compile(','):split('{s}', {n})") == expected


async def test_subexpressions(app):
    res = await run(app, r"""
    local re = text.regexp.compile("(?P<year>\\d{4})-(\\d{2})")
    return {re:num_subexp(), re:subexp_names(), text.regexp.compile("abc"):num_subexp()}
    """)
    assert res == [2, ["", "year", ""], 0]


async def test_binary_subject(app):
    res = await run(app, r"""
    local re = text.regexp.compile("\\x00+")
    return #re:split("a\0\0b\255c\0d", -1)
    """)
    assert res == 3


async def test_regexp_is_read_only(app):
    res = await run(app, """
    local re = text.regexp.compile("x")
    local ok = pcall(function() re.match_string = nil end)
    local ok2, err2 = pcall(function() return re.match_string("x") end)
    return {ok, ok2, getmetatable(re)}
    """)
    assert res == [False, False, False]


async def test_diff_compare_summarize_pretty(app):
    res = await run(app, """
    local diff, err = text.diff.new()
    local diffs = diff:compare("hello world", "hello there")
    local summary = diff:summarize(diffs)
    return {err == nil, diffs, summary, diff:pretty_html(diffs), diff:pretty_text(diffs),
            diff:pretty_html(diff:compare("a<b", "a<c"))}
    """)
    assert res[0] is True
    assert res[1] == [{"operation": "equal", "text": "hello "}, {"operation": "delete", "text": "world"},
                      {"operation": "insert", "text": "there"}]
    assert res[2] == {"equals": 6, "deletions": 5, "insertions": 5}
    assert res[3] == "hello <del>world</del><ins>there</ins>"
    assert res[4] == "hello \x1b[31mworld\x1b[0m\x1b[32mthere\x1b[0m"
    assert res[5] == "a&lt;<del>b</del><ins>c</ins>"


async def test_diff_options_and_errors(app):
    res = await run(app, """
    local d = text.diff.new({diff_timeout = 0.5, diff_edit_cost = 6, match_threshold = 0.3,
                             match_distance = 500, patch_delete_threshold = 0.4, patch_margin = 2})
    local _, e1 = text.diff.new({speed = 1})
    local _, e2 = text.diff.new({match_threshold = 3})
    local _, e3 = d:compare("ok", "\\255")
    local _, e4 = d:summarize({{operation = "bogus", text = "x"}})
    return {d ~= nil, e1:kind(), e2:kind(), e3:kind(), e4:kind()}
    """)
    assert res == [True, "Invalid", "Invalid", "Invalid", "Invalid"]


async def test_patches(app):
    res = await run(app, """
    local diff = text.diff.new()
    local text1 = "The quick brown fox jumps over the lazy dog"
    local text2 = "The quick red fox jumps over the lazy cat"
    local patches, err = diff:patch_make(text1, text2)
    local result, ok = diff:patch_apply(patches, text1)
    -- patches apply to a text that moved a little too
    local moved, ok2 = diff:patch_apply(patches, "Intro. " .. text1)
    local _, bad = diff:patch_apply({{text = "garbage"}}, text1)
    return {err == nil, #patches > 0, result, ok, moved, ok2, bad:kind()}
    """)
    assert res == [True, True, "The quick red fox jumps over the lazy cat", True,
                   "Intro. The quick red fox jumps over the lazy cat", True, "Invalid"]


async def test_recursive_splitter(app):
    res = await run(app, """
    local s, err = text.splitter.recursive({chunk_size = 20, chunk_overlap = 5})
    local chunks = s:split_text("This is a long text that needs splitting into several chunks of text.")
    local para = text.splitter.recursive({chunk_size = 30, chunk_overlap = 0})
    local p = para:split_text("First paragraph here.\\n\\nSecond paragraph here.")
    local keep = text.splitter.recursive({chunk_size = 10, chunk_overlap = 0, separators = {";"}, keep_separator = true})
    local k = keep:split_text("aaa;bbb;ccc;ddd")
    return {err == nil, chunks, p, k}
    """)
    assert res[0] is True
    assert res[1] == ["This is a long text", "text that needs", "needs splitting into", "into several chunks",
                      "of text."]
    assert all(len(c) <= 20 for c in res[1])
    assert res[2] == ["First paragraph here.", "Second paragraph here."]
    assert res[3] == ["aaa;bbb", ";ccc;ddd"]


async def test_markdown_splitter(app):
    res = await run(app, r"""
    local md = text.splitter.markdown({chunk_size = 80, chunk_overlap = 10, code_blocks = true,
                                       heading_hierarchy = true, join_table_rows = true,
                                       reference_links = true})
    local doc = table.concat({
      "# Guide", "", "Intro text.", "", "## Install", "",
      "Run the [installer][inst] to begin, it takes a minute or two on most machines.", "",
      "```sh", "pip install wippy", "wippy init app", "wippy run app", "```", "",
      "## Table", "", "| a | b |", "|---|---|", "| 1 | 2 |", "",
      "[inst]: https://example.com/install"}, "\n")
    return md:split_text(doc)
    """)
    assert res[0] == "# Guide\n\nIntro text."
    assert any(c.startswith("# Guide\n\n## Install") and "[inst]: https://example.com/install" in c for c in res)
    assert any("```sh\npip install wippy\nwippy init app\nwippy run app\n```" in c for c in res)
    assert any("| a | b |\n|---|---|\n| 1 | 2 |" in c for c in res)


async def test_split_batch_and_errors(app):
    res = await run(app, """
    local s = text.splitter.recursive({chunk_size = 20, chunk_overlap = 0})
    local chunks = s:split_batch({
      {content = "First page content that is long.", metadata = {page = 1}},
      {content = "Second page.", metadata = {page = 2}},
    })
    local _, e1 = text.splitter.recursive({chunk_size = 10, chunk_overlap = 10})
    local _, e2 = text.splitter.markdown({unknown = true})
    local _, e3 = s:split_batch({{metadata = {}}})
    local _, e4 = s:split_text("\\255")
    return {chunks, e1:kind(), e2:kind(), e3:kind(), e4:kind()}
    """)
    assert res[0] == [{"content": "First page content", "metadata": {"page": 1}},
                      {"content": "that is long.", "metadata": {"page": 1}},
                      {"content": "Second page.", "metadata": {"page": 2}}]
    assert res[1:] == ["Invalid", "Invalid", "Invalid", "Invalid"]
