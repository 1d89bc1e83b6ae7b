"""Definition-file loading rules (reference §1.2), with errors that name file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from wippy.loader import LoadError, load_tree


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def messages(result) -> list[str]:
    return [str(e) for e in result.errors]


def test_entries_fields_become_data_and_file_meta_is_merged(tmp_path):
    index = write(tmp_path, "app/_index.yaml", """
        version: "1.0"
        namespace: app.api
        meta: {owner: team-a, tier: web}
        entries:
          - name: get_user
            kind: function.lua
            meta: {tier: api, type: handler}
            source: return {}
            method: handler
            modules: [sql, json]

          - name: cfg
            kind: registry.entry
            data: [1, 2, 3]
        """)
    result = load_tree(tmp_path)
    assert result.ok, messages(result)
    get_user = result.entries["app.api:get_user"]
    assert get_user.kind == "function.lua"
    assert get_user.meta == {"owner": "team-a", "tier": "api", "type": "handler"}
    assert get_user.data == {"source": "return {}", "method": "handler", "modules": ["sql", "json"]}
    assert (get_user.source.file, get_user.source.line) == (str(index), 5)
    cfg = result.entries["app.api:cfg"]
    assert cfg.data == [1, 2, 3] and cfg.source.line == 12
    assert result.files == {str(index): ["app.api:get_user", "app.api:cfg"]}


def test_single_entry_file(tmp_path):
    write(tmp_path, "one.yml", """
        namespace: app
        name: settings
        kind: registry.entry
        meta: {type: config}
        retries: 3
        """)
    result = load_tree(tmp_path)
    assert result.ok, messages(result)
    e = result.entries["app:settings"]
    assert (e.meta, e.data, e.source.line) == ({"type": "config"}, {"retries": 3}, 1)


def test_files_without_namespace_are_skipped_silently(tmp_path):
    write(tmp_path, "wippy.yaml", "organization: acme\nmodule: demo\n")
    write(tmp_path, "list.yaml", "- 1\n- 2\n")
    write(tmp_path, "empty.yaml", "")
    result = load_tree(tmp_path)
    assert result.ok and result.entries == {} and result.files == {}


def test_namespace_without_entries_is_an_error(tmp_path):
    path = write(tmp_path, "bad.yaml", "namespace: app\nsomething: else\n")
    result = load_tree(tmp_path)
    assert [(e.file, e.line) for e in result.errors] == [(str(path), 1)]
    assert "neither 'entries:' nor top-level 'name' and 'kind'" in result.errors[0].message


def test_entry_missing_name_or_kind(tmp_path):
    path = write(tmp_path, "_index.yaml", """
        namespace: app
        entries:
          - name: ok
            kind: registry.entry
          - name: nokind
            value: 1
          - kind: registry.entry
        """)
    result = load_tree(tmp_path)
    # tmp_path lies outside the working directory, so paths are shown absolute.
    assert messages(result) == [
        f"{path}:5: entry app:nokind: entry is missing 'kind'",
        f"{path}:7: entry is missing 'name'",
    ]
    assert list(result.entries) == ["app:ok"]
    assert result.failed == set() and list(result.refused) == ["app:nokind"]  # the file's other entries load


def test_explicit_data_with_other_fields_is_an_error(tmp_path):
    write(tmp_path, "_index.yaml", """
        namespace: app
        entries:
          - {name: x, kind: registry.entry, data: {a: 1}, stray: 2}
        """)
    result = load_tree(tmp_path)
    assert "entry app:x: has an explicit 'data:' and also data fields ['stray']" in messages(result)[0]


def test_file_references_are_embedded(tmp_path):
    write(tmp_path, "app/code/hello.lua", "return function() return 'hi' end\n")
    write(tmp_path, "app/templates/page.html", "<p>hi</p>")
    outside = tmp_path.parent / f"{tmp_path.name}-abs.txt"
    outside.write_text("absolute")
    write(tmp_path, "app/_index.yaml", f"""
        namespace: app
        entries:
          - name: hello
            kind: function.lua
            source: file://code/hello.lua
            method: main
          - name: pages
            kind: registry.entry
            pages: [file://templates/page.html, "plain file:// text stays"]
            nested: {{abs: "file://{outside}"}}
        """)
    result = load_tree(tmp_path / "app")
    assert result.ok, messages(result)
    assert result.entries["app:hello"].data["source"] == "return function() return 'hi' end\n"
    pages = result.entries["app:pages"].data
    assert pages["pages"] == ["<p>hi</p>", "plain file:// text stays"]
    assert pages["nested"] == {"abs": "absolute"}
    assert result.reads[str((tmp_path / "app/code/hello.lua").resolve())] == {"app:hello"}


def test_file_reference_escaping_the_root_is_refused(tmp_path):
    (tmp_path / "secret.txt").write_text("top secret")
    path = write(tmp_path, "app/_index.yaml", """
        namespace: app
        entries:
          - name: sneaky
            kind: registry.entry
            value: file://../secret.txt
        """)
    result = load_tree(tmp_path / "app")
    assert result.entries == {}
    [err] = result.errors
    assert (err.file, err.line, err.entry_id) == (str(path), 3, "app:sneaky")
    assert "file://../secret.txt: refused, the path leaves the app folder" in err.message
    assert "top secret" not in str(err)


def test_missing_embedded_file(tmp_path):
    write(tmp_path, "_index.yaml", """
        namespace: app
        entries:
          - {name: f, kind: function.lua, source: file://missing.lua, method: m}
        """)
    [err] = load_tree(tmp_path).errors
    assert "entry app:f: file://missing.lua: file not found" in str(err)


def test_duplicate_ids_across_files_name_both_files(tmp_path):
    write(tmp_path, "a/_index.yaml", "namespace: app\nentries:\n  - {name: x, kind: registry.entry, v: 1}\n")
    b = write(tmp_path, "b/_index.yaml", "namespace: app\nentries:\n  - {name: x, kind: registry.entry, v: 2}\n")
    result = load_tree(tmp_path)
    [err] = result.errors
    assert err.file == str(b) and err.line == 3 and err.entry_id == "app:x"
    assert "duplicate entry id, already defined at" in err.message and "a/_index.yaml:3" in err.message
    assert result.entries["app:x"].data == {"v": 1}
    assert result.failed == set() and result.refused == {}  # the first definition loads; the second is reported


def test_bad_yaml_is_reported_with_line_and_other_files_load(tmp_path):
    broken = write(tmp_path, "broken/_index.yaml", "namespace: app\nentries:\n  - name: x\n   kind: oops\n")
    write(tmp_path, "good/_index.yaml", "namespace: app\nentries:\n  - {name: fine, kind: registry.entry}\n")
    result = load_tree(tmp_path)
    assert list(result.entries) == ["app:fine"]
    [err] = result.errors
    assert (err.file, err.line) == (str(broken), 4)
    assert err.message.startswith("invalid YAML:")
    assert result.failed == {str(broken)}


def test_duplicate_yaml_keys_are_an_error(tmp_path):
    write(tmp_path, "_index.yaml", "namespace: app\nentries:\n  - name: x\n    kind: a.b\n    kind: c.d\n")
    [err] = load_tree(tmp_path).errors
    assert err.line == 5 and "key 'kind' already defined at line 4" in err.message


def test_values_are_read_like_the_go_runtime(tmp_path):
    write(tmp_path, "_index.yaml", """
        namespace: app
        entries:
          - {name: x, kind: registry.entry, day: 2024-01-02, country: NO, answer: yes, flag: true, n: 3}
        """)
    data = load_tree(tmp_path).entries["app:x"].data
    assert data == {"day": "2024-01-02", "country": "NO", "answer": "yes", "flag": True, "n": 3}


def test_hidden_directories_are_skipped(tmp_path):
    write(tmp_path, ".wippy/vendor/_index.yaml", "namespace: vendored\nentries:\n  - {name: x, kind: registry.entry}\n")
    write(tmp_path, ".git/x.yaml", "namespace: git\nentries:\n  - {name: x, kind: registry.entry}\n")
    write(tmp_path, ".hidden.yaml", "namespace: hidden\nentries:\n  - {name: x, kind: registry.entry}\n")
    write(tmp_path, "src/_index.yaml", "namespace: app\nentries:\n  - {name: x, kind: registry.entry}\n")
    assert list(load_tree(tmp_path).entries) == ["app:x"]


@pytest.mark.parametrize("text, message", [
    ("namespace: app\nversion: '2.0'\nentries: []\n", "unsupported version '2.0'"),
    ("namespace: 'a:b'\nentries: []\n", "invalid namespace 'a:b'"),
    ("namespace: app\nentries: {name: x}\n", "'entries' must be a list"),
    ("namespace: app\nentries:\n  - just a string\n", "an entry must be a mapping"),
    ("namespace: app\nentries:\n  - {name: 'a:b', kind: x.y}\n", "invalid entry id 'app:a:b'"),
])
def test_malformed_definition_files(tmp_path, text, message):
    (tmp_path / "_index.yaml").write_text(text)
    [err] = load_tree(tmp_path).errors
    assert message in err.message


def test_load_error_format():
    err = LoadError("/nowhere/app/_index.yaml", 12, "app:foo", "something off")
    assert str(err) == "/nowhere/app/_index.yaml:12: entry app:foo: something off"
    assert str(LoadError("/nowhere/x.yaml", None, None, "m")) == "/nowhere/x.yaml: m"


def test_missing_root(tmp_path):
    result = load_tree(tmp_path / "nope")
    assert "not a directory" in messages(result)[0]
