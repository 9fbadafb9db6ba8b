"""Credentials per registry (issue #27): berth_registries checked and merged with the one-registry shorthand
on the controller, and each registry's token realm sent only that registry's credentials.

The refusals go the way ansible-playbook goes (test_spec_refusals.deploy: the release role's defaults and
its release_spec task templated by Ansible's Templar, then the action plugin), so a message is exact
for the variable as the user wrote it, and the registry is never asked."""

from __future__ import annotations

import base64
import json
import re
from unittest import mock

import pytest
from ansible.errors import AnsibleFilterError
from ansible.template import Templar
from ansible_collections.berth.ops.plugins.action import release_spec as release_spec_action
from ansible_collections.berth.ops.plugins.filter.registries import registry_logins, registry_problems
from ansible_collections.berth.ops.plugins.module_utils._oci import Client, RegistryError, Response
from ansible_collections.berth.ops.plugins.module_utils._registries import Credential, logins, merge
from test_oci_client import DIGEST, FakeRegistry, ok_manifest
from test_spec_refusals import LOADER, MAIN_TASKS, deploy, fake_task, good, load, role_vars, the_task

SECRET = "s3cret-Canary-7"
OTHER_SECRET = "0ther-Canary-8"
BAD_HOST = "is not a registry host (host or host:port: lower-case letters, digits, '-', dots, no scheme or path)"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- merge: the shorthand and berth_registries become one mapping ----------------------------------------

def test_the_shorthand_is_one_more_registry_and_the_others_stay_anonymous():
    merged, errors = merge({"hub.berth.test": {}, "docker.io": None}, "registry.berth.test", "deploy", SECRET)
    assert errors == []
    assert merged == {"hub.berth.test": None, "docker.io": None,
                      "registry.berth.test": Credential("deploy", SECRET, "berth_registry_password")}


def test_the_shorthand_without_berth_registry_is_for_ghcr():
    merged, errors = merge({}, None, "bot", SECRET)
    assert errors == [] and list(merged) == ["ghcr.io"]


def test_empty_shorthand_is_no_credentials():
    assert merge(None, "registry.berth.test", "", "") == ({}, [])


def test_docker_hub_by_any_of_its_names_is_docker_io_and_logs_in_where_docker_keeps_it():
    merged, errors = merge({"index.docker.io": {"username": "me", "password": SECRET},
                            "ghcr.io": {"username": "bot", "password": OTHER_SECRET}})
    assert errors == []
    assert merged["docker.io"] == Credential("me", SECRET, "berth_registries['index.docker.io'].password")
    assert logins(merged) == [{"registry": "https://index.docker.io/v1/", "username": "me", "password": SECRET},
                              {"registry": "ghcr.io", "username": "bot", "password": OTHER_SECRET}]


def test_a_credential_never_shows_its_password():
    assert SECRET not in repr(Credential("me", SECRET, "x")) + str(Credential("me", SECRET, "x"))


# --- every refusal, exact, through the release role ---------------------------------------------------------

REFUSALS = [
    ("not a mapping", {"berth_registries": ["ghcr.io"]},
     "berth_registries: ['ghcr.io'] is not a mapping of registry host to {username, password}"),
    ("a URL for a host", {"berth_registries": {"https://ghcr.io": {}}},
     f"berth_registries: 'https://ghcr.io' {BAD_HOST}"),
    ("upper-case host", {"berth_registries": {"GHCR.io": {}}}, f"berth_registries: 'GHCR.io' {BAD_HOST}"),
    ("a path after the host", {"berth_registries": {"ghcr.io/acme": {}}},
     f"berth_registries: 'ghcr.io/acme' {BAD_HOST}"),
    ("port out of range", {"berth_registries": {"registry.example.com:70000": {}}},
     "berth_registries: 'registry.example.com:70000' is not a registry host (its port is not 1-65535)"),
    ("Docker Hub twice", {"berth_registries": {"docker.io": {}, "index.docker.io": {}}},
     "berth_registries: 'index.docker.io' names the same registry as 'docker.io'"),
    ("entry not a mapping", {"berth_registries": {"ghcr.io": "bot"}},
     "berth_registries['ghcr.io']: 'bot' is not a mapping with username and password (or empty for anonymous)"),
    ("unknown key", {"berth_registries": {"ghcr.io": {"user": "bot", "username": "bot", "password": SECRET}}},
     "berth_registries['ghcr.io']: 'user' is not a known key (username, password)"),
    ("username without password", {"berth_registries": {"ghcr.io": {"username": "bot"}}},
     "berth_registries['ghcr.io'].password: (missing) is not a password or token (a non-empty string)"),
    ("password not a string", {"berth_registries": {"ghcr.io": {"username": "bot", "password": 1234}}},
     "berth_registries['ghcr.io'].password: (hidden) is not a password or token (a non-empty string)"),
    ("password without username", {"berth_registries": {"ghcr.io": {"password": SECRET}}},
     "berth_registries['ghcr.io'].username: (missing) is not a user name (non-empty, no ':' and no "
     "surrounding spaces)"),
    ("username with a colon", {"berth_registries": {"ghcr.io": {"username": "a:b", "password": SECRET}}},
     "berth_registries['ghcr.io'].username: 'a:b' is not a user name (non-empty, no ':' and no surrounding spaces)"),
    ("shorthand username without its password", {"berth_registry_username": "bot"},
     "berth_registry_password: (missing) is not a password or token (a non-empty string; it goes with "
     "berth_registry_username)"),
    ("shorthand registry not a host", {"berth_registry": "https://ghcr.io", "berth_registry_username": "bot",
                                       "berth_registry_password": SECRET},
     f"berth_registry: 'https://ghcr.io' {BAD_HOST}"),
    ("shorthand and berth_registries for one registry",
     {"berth_registry": "ghcr.io", "berth_registry_username": "bot", "berth_registry_password": SECRET,
      "berth_registries": {"ghcr.io": {"username": "bot2", "password": OTHER_SECRET}}},
     "berth_registry: 'ghcr.io' has credentials in berth_registry_username/berth_registry_password and an entry "
     "in berth_registries['ghcr.io']: keep one"),
]


@pytest.mark.parametrize(("extra", "line"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_a_bad_registries_input_is_refused_naming_the_variable_and_the_value(extra, line):
    result = deploy({**good(), **extra})
    assert result["failed"] is True
    assert result["errors"] == [line]
    assert result["msg"] == f"1 bad input, nothing was changed: {line}"
    shown = json.dumps(result)
    assert SECRET not in shown and OTHER_SECRET not in shown


def test_every_bad_registries_input_is_named_at_once_with_the_stacks():
    variables = {**good(), "berth_domain": "in_puts.berth.test",
                 "berth_registries": {"Hub": {}, "ghcr.io": {"username": "bot"}}}
    result = deploy(variables)
    assert len(result["errors"]) == 3 and result["msg"].startswith("3 bad inputs, nothing was changed: ")


# --- the good path: which credentials reach which registry ------------------------------------------------

def test_the_release_role_hands_each_registry_its_own_credentials():
    """The role's defaults and task, templated as ansible-playbook does, give the client one mapping:
    the shorthand's registry, berth_registries' private registry, and an anonymous one."""
    seen = {}

    class Registry:
        def __init__(self, *_args, credentials=None, **_kwargs):
            seen.update(credentials)

        def resolve(self, image: str) -> dict:
            return {"pinned": image + "@" + DIGEST}

    user = {**good(), "berth_registry": "registry.berth.test", "berth_registry_username": "deploy",
            "berth_registry_password": SECRET,
            "berth_registries": {"hub.berth.test": {}, "ghcr.io": {"username": "bot", "password": OTHER_SECRET}}}
    variables = role_vars(user)
    templar = Templar(loader=LOADER, variables=variables)
    args = templar.template(the_task(MAIN_TASKS, "berth.ops.release_spec")["berth.ops.release_spec"])
    action = release_spec_action.ActionModule(fake_task(args, "berth.ops.release_spec"), mock.MagicMock(),
                                              mock.MagicMock(), LOADER, templar)
    with mock.patch.object(release_spec_action, "Client", Registry):
        result = action.run(task_vars=variables)
    assert "failed" not in result, result
    assert seen == {"registry.berth.test": Credential("deploy", SECRET, "berth_registry_password"),
                    "hub.berth.test": None,
                    "ghcr.io": Credential("bot", OTHER_SECRET, "berth_registries['ghcr.io'].password")}


def challenge(realm: str, service: str, repo: str) -> dict:
    return {"www-authenticate": f'Bearer realm="{realm}",service="{service}",scope="repository:{repo}:pull"'}


class TwoRealms(FakeRegistry):
    """Three registries, each with its own token realm: a.test and b.test (tokens ta, tb) and hub.test."""

    def __init__(self):
        super().__init__({})
        self.tokens = {"a.test": "ta", "b.test": "tb", "hub.test": "th"}

    def __call__(self, method, url, headers, timeout):
        self.sent.append((method, url, dict(headers)))
        host = url.split("/")[2]
        if host.startswith("auth."):
            registry = host[len("auth."):]
            return Response(200, {}, json.dumps({"token": self.tokens[registry]}).encode())
        if headers.get("Authorization") != f"Bearer {self.tokens[host]}":
            return Response(401, challenge(f"https://auth.{host}/token", host, "x/y"))
        return ok_manifest(method)


def test_each_token_realm_gets_only_its_own_registrys_credentials_and_anonymous_gets_none():
    fake = TwoRealms()
    client = Client(fake, credentials={"a.test": Credential("ua", SECRET, "va"),
                                       "b.test": Credential("ub", OTHER_SECRET, "vb"), "hub.test": None})
    for image in ("a.test/x/y:1", "hub.test/x/y:1", "b.test/x/y:1", "a.test/x/y:1"):
        assert client.resolve(image)["digest"] == DIGEST
    realm_auth = {url.split("/")[2]: headers.get("Authorization") for _m, url, headers in fake.sent
                  if url.split("/")[2].startswith("auth.")}
    assert realm_auth == {"auth.a.test": basic("ua", SECRET), "auth.b.test": basic("ub", OTHER_SECRET),
                          "auth.hub.test": None}
    # Registries see only their own token (a.test's is reused, never shown to another).
    for _method, url, headers in fake.sent:
        host = url.split("/")[2]
        if not host.startswith("auth."):
            assert headers.get("Authorization") in (None, f"Bearer {fake.tokens[host]}"), (url, headers)


def test_a_registry_missing_from_the_mapping_is_asked_anonymously():
    fake = TwoRealms()
    client = Client(fake, credentials={"a.test": Credential("ua", SECRET, "va")})
    client.resolve("hub.test/x/y:1")
    assert all("Authorization" not in headers for _m, url, headers in fake.sent if "auth." in url)


def test_a_refused_login_names_the_registry_and_the_variable_never_the_secret():
    fake = FakeRegistry({("HEAD", "/manifests/1"): [Response(401, challenge("https://auth.hub.test/token", "hub",
                                                                            "x/y"))],
                         ("GET", "/token"): [Response(401, {})]})
    path = "berth_registries['hub.test'].password"
    client = Client(fake, credentials={"hub.test": Credential("me", SECRET, path)})
    with pytest.raises(RegistryError) as err:
        client.resolve("hub.test/x/y:1")
    assert err.value.kind == "bad_credentials"
    assert str(err.value) == f"hub.test/x/y:1: the token server of hub.test refused user 'me' (401): check {path}"


def test_a_private_repository_without_credentials_says_where_to_give_them():
    fake = FakeRegistry({("HEAD", "/manifests/1"): [Response(401, challenge("https://auth.hub.test/token", "hub",
                                                                            "x/y"))],
                         ("GET", "/token"): [Response(200, {}, b'{"token": "anon"}')],
                         ("GET", "/tags/list"): [Response(401, {})],
                         ("GET", "/manifests/1"): [Response(401, {})]})
    client = Client(fake, credentials={"other.test": Credential("me", SECRET, "v")})
    with pytest.raises(RegistryError) as err:
        client.resolve("hub.test/x/y:1")
    assert "no credentials were given for hub.test (set berth_registries['hub.test'])" in str(err.value)
    assert all(SECRET not in json.dumps(headers) and basic("me", SECRET) not in json.dumps(headers)
               for _m, _u, headers in fake.sent)


# --- the hosts' docker login: the registry_login role's defaults and tasks, as Ansible reads them ----------

LOGIN_DEFAULTS = load("roles/registry_login/defaults/main.yml")
LOGIN_TASKS = load("roles/registry_login/tasks/main.yml")
LOGIN_VALIDATE = load("roles/registry_login/tasks/validate.yml")
# The role's tasks call the filters with its four inputs (the filters themselves are called directly
# below: a unit test's Templar cannot load collection filters once the collection was imported as code).
CALL = (r"\{\{\s*registry_login_registries \| berth\.ops\.FILTER\(registry_login_registry, registry_login_username,"
        r"\s+registry_login_password\) \}\}")


def login_inputs(user: dict) -> list:
    templar = Templar(loader=LOADER, variables={**LOGIN_DEFAULTS, **user})
    return [templar.template(LOGIN_DEFAULTS[name]) for name in
            ("registry_login_registries", "registry_login_registry", "registry_login_username",
             "registry_login_password")]


def test_the_hosts_log_in_to_every_registry_with_credentials_and_no_anonymous_one():
    user = {"berth_registry": "registry.berth.test", "berth_registry_username": "deploy",
            "berth_registry_password": SECRET,
            "berth_registries": {"hub.berth.test": {}, "docker.io": {"username": "me", "password": OTHER_SECRET}}}
    task = the_task(LOGIN_TASKS, "community.docker.docker_login")
    assert task["no_log"] is True
    assert re.fullmatch(CALL.replace("FILTER", "registry_logins"), task["loop"].strip()), task["loop"]
    assert registry_logins(*login_inputs(user)) == [
        {"registry": "https://index.docker.io/v1/", "username": "me", "password": OTHER_SECRET},
        {"registry": "registry.berth.test", "username": "deploy", "password": SECRET}]
    assert registry_logins(*login_inputs({})) == []  # nothing given: every pull anonymous, no login


def test_the_role_refuses_bad_registries_naming_the_variable_and_hiding_the_password():
    expression = LOGIN_VALIDATE[0]["vars"]["__registry_login_problems"]
    assert re.fullmatch(CALL.replace("FILTER", "registry_problems"), expression.strip()), expression
    user = {"berth_registries": {"hub.berth.test": {"username": "me", "password": 42}}}
    line = "berth_registries['hub.berth.test'].password: (hidden) is not a password or token (a non-empty string)"
    assert registry_problems(*login_inputs(user)) == [line]
    with pytest.raises(AnsibleFilterError, match=re.escape(line)):
        registry_logins(*login_inputs(user))


# --- provision's Traefik pin: the image_digest task of playbooks/provision.yml, templated as Ansible does ---

PROVISION = load("playbooks/provision.yml")


def test_provision_pins_traefik_with_only_traefiks_registrys_credentials():
    """The README's stack: the app on GHCR through the shorthand, Traefik from Docker Hub: Docker Hub
    is asked anonymously, and a refusal would name berth_registries."""
    play = next(play for play in PROVISION if play.get("name") == "Provision")
    task = the_task(play["pre_tasks"], "berth.ops.image_digest")
    user = {"berth_registry": "ghcr.io", "berth_registry_username": "bot", "berth_registry_password": SECRET,
            "traefik_image": "traefik:v3.7", "berth_registries": {"docker.io": {}}}
    args = Templar(loader=LOADER, variables={**play.get("vars", {}), **user}).template(task["berth.ops.image_digest"])
    assert args["inventory_names"] is True
    credentials, errors = merge(args["registries"], args["registry"], args["username"], args["password"])
    assert errors == []
    assert credentials == {"docker.io": None, "ghcr.io": Credential("bot", SECRET, "berth_registry_password")}
    # Without berth_registry the shorthand is GHCR's, never the registry Traefik happens to name.
    del user["berth_registry"]
    args = Templar(loader=LOADER, variables={**play.get("vars", {}), **user}).template(task["berth.ops.image_digest"])
    assert args["registry"] == "ghcr.io"
