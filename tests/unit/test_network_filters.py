"""The address filters the firewall role validates input and compares ufw rules with."""

import importlib.util

import pytest
from labtools import ROOT

spec = importlib.util.spec_from_file_location("network", ROOT / "plugins" / "filter" / "network.py")
network = importlib.util.module_from_spec(spec)
spec.loader.exec_module(network)


@pytest.mark.parametrize(("values", "bad"), [
    (["any", "10.0.0.0/8", "203.0.113.7", "2001:db8::/32", "10.0.0.5/24"], []),
    (["10.0.0.300/8", "10.0.0.0/8", "example.com", "10.0.0.0/33", ""],
     ["10.0.0.300/8", "example.com", "10.0.0.0/33", ""]),
])
def test_invalid_cidrs(values, bad):
    assert network.invalid_cidrs(values) == bad


@pytest.mark.parametrize(("values", "address", "inside"), [
    (["any"], "198.51.100.1", True),
    (["172.20.0.0/16"], "172.20.0.1", True),
    (["172.20.0.1/32"], "172.20.0.2", False),
    (["2001:db8::/32"], "172.20.0.1", False),
    (["10.0.0.0/8", "172.16.0.0/12"], "172.31.255.254", True),
    (["10.0.0.0/8"], "not-an-address", False),
])
def test_cidrs_contain(values, address, inside):
    assert network.cidrs_contain(values, address) is inside


@pytest.mark.parametrize(("value", "shown"), [
    ("any", "any"), ("172.20.0.1/32", "172.20.0.1"), ("172.20.0.1", "172.20.0.1"),
    ("10.0.0.5/24", "10.0.0.0/24"), ("2001:db8::1/128", "2001:db8::1"),
])
def test_ufw_source_matches_what_ufw_prints(value, shown):
    assert network.ufw_source(value) == shown
