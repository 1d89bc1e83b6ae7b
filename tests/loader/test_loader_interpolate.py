"""${env:...} placeholders."""

from __future__ import annotations

import pytest

from wippy.loader import InterpolationError, resolve_env

ENV = {"DB_HOST": "db.local", "PORT": "5432", "EMPTY": ""}.get


@pytest.mark.parametrize("raw, resolved", [
    ("${env:DB_HOST}", "db.local"),
    ("postgres://${env:DB_HOST}:${PORT}/app", "postgres://db.local:5432/app"),
    ("${env:MISSING|fallback}", "fallback"),
    ("${MISSING|}", ""),
    ("${EMPTY|not used}", ""),
    ("${MISSING|a:b|c}", "a:b|c"),
    ("$${env:DB_HOST}", "${env:DB_HOST}"),
    ("local x = '${lower}'", "local x = '${lower}'"),  # only UPPER_SNAKE bare names are placeholders
    ("no placeholders", "no placeholders"),
])
def test_strings(raw, resolved):
    assert resolve_env(raw, ENV) == resolved


def test_recurses_through_data_and_leaves_other_values():
    data = {"dsn": "${env:DB_HOST}", "ports": ["${PORT}", 80], "tls": {"on": True, "ca": "${CA|none}"}}
    assert resolve_env(data, ENV) == {"dsn": "db.local", "ports": ["5432", 80], "tls": {"on": True, "ca": "none"}}


def test_missing_without_default_names_variable_and_field():
    with pytest.raises(InterpolationError, match=r"field 'pool.password': environment variable 'DB_PASS' is not set"):
        resolve_env({"pool": {"password": "${env:DB_PASS}"}}, ENV)
    with pytest.raises(InterpolationError, match=r"field 'hosts\[1\]'"):
        resolve_env({"hosts": ["a", "${HOST}"]}, ENV)
