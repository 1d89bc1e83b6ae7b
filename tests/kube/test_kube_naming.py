"""Object names and CRD names as users type them: readable default names, English plurals,
short names for every kind."""
from __future__ import annotations

import re

import pytest

from wippy.kube import crds
from wippy.kube.naming import object_name, object_names, plural, valid_name


@pytest.mark.parametrize("entry_id, name", [
    ("app.api:get_user", "app.api.get-user"),
    ("hello:greet", "hello.greet"),
    ("app:hello.get", "app.hello.get"),
    ("App:Get User!", "app.get-user"),
    ("app:_private_", "app.private"),
    ("x:-.-", "x"),
])
def test_default_names_are_readable(entry_id, name):
    assert object_name(entry_id) == name and valid_name(name)


def test_a_hash_only_where_two_ids_of_one_app_get_one_name():
    names = object_names(["app.api:get_user", "app:api.get-user", "app:other"])
    assert names["app:other"] == "app.other"
    a, b = names["app.api:get_user"], names["app:api.get-user"]
    assert a != b and re.fullmatch(r"app\.api\.get-user-[0-9a-f]{6}", a) and valid_name(a) and valid_name(b)


def test_long_and_empty_ids_still_make_valid_names():
    assert valid_name(object_name("a:" + "b" * 400)) and len(object_name("a:" + "b" * 400)) <= 253
    assert valid_name(object_name("::"))


EXPECTED_PLURALS = {
    "FsDirectory": "fsdirectories", "RegistryEntry": "registryentries", "SecurityPolicy": "securitypolicies",
    "NsDependency": "nsdependencies", "StoreMemory": "storememories", "StoreRedis": "storeredises",
    "ProcessService": "processservices", "FunctionLua": "functionluas", "WippyApp": "wippyapps",
}


@pytest.mark.parametrize("kind, expected", sorted(EXPECTED_PLURALS.items()))
def test_plurals_are_english(kind, expected):
    assert plural(kind) == expected


def test_every_crd_has_an_english_plural_and_its_own_short_name():
    every = crds.all_crds()
    kinds = {c["spec"]["names"]["kind"] for c in every}
    assert set(EXPECTED_PLURALS) <= kinds
    shorts = [s for c in every for s in c["spec"]["names"]["shortNames"]]
    assert len(shorts) == len(set(shorts)) == len(every)
    # none shadows a built-in resource's short name
    assert not set(shorts) & {"cm", "ds", "deploy", "ep", "ev", "hpa", "ing", "no", "ns", "pc", "pdb", "po", "pv",
                              "pvc", "quota", "rc", "rs", "sa", "sc", "sts", "svc", "netpol", "crd", "csr"}
    for crd in every:
        names = crd["spec"]["names"]
        assert not re.search(r"[^aeiou]ys$", names["plural"]), names["plural"]
        assert crd["metadata"]["name"] == f"{names['plural']}.wippy.ai"
