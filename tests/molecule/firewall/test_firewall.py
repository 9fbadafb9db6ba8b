"""What a user checks after berth.ops.firewall: only SSH and the public ports answer from outside."""

import socket


def reachable(host, port: int) -> bool:
    address = host.backend.get_variables()["ansible_host"]
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def test_a_listening_port_that_was_not_opened_is_unreachable(host):
    assert host.run("curl -fsS -o /dev/null http://127.0.0.1:8081/").rc == 0  # it is listening
    assert not reachable(host, 8081)


def test_ssh_still_answers(host):
    assert reachable(host, 22)


def test_ufw_is_active_with_deny_incoming(host):
    status = host.check_output("ufw status verbose")
    assert "Status: active" in status and "deny (incoming)" in status


def test_ssh_rules_are_exactly_the_allow_list(host):
    ssh_rules = [line for line in host.check_output("ufw show added").splitlines() if "berth ssh" in line]
    assert ssh_rules == ["ufw limit from 172.16.0.0/12 to any port 22 proto tcp comment 'berth ssh'"]


def test_internal_ports_are_open_to_the_vpc_only(host):
    added = host.check_output("ufw show added")
    assert "ufw allow from 10.110.0.0/20 to any port 9100 proto tcp comment 'berth vpc'" in added


def test_docker_published_ports_are_guarded_and_forwarding_stays_on(host):
    chain = host.check_output("iptables -S DOCKER-USER")
    assert "-A DOCKER-USER -j DROP" in chain
    assert "--ctorigdstport 80 -j RETURN" in chain and "--ctorigdstport 443 -j RETURN" in chain
    assert host.check_output("sysctl -n net.ipv4.ip_forward") == "1"
