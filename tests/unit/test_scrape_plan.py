"""Who scrapes whom in a fleet (plugins/filter/monitoring.py scrape_plan)."""

from ansible_collections.berth.ops.plugins.filter.monitoring import scrape_plan

FLEET = [{"inventory_hostname": "web-1", "berth_monitoring": True, "do_private_ipv4": "10.10.0.2",
          "ansible_host": "203.0.113.2"},
         {"inventory_hostname": "web-2", "do_private_ipv4": "10.10.0.3", "ansible_host": "203.0.113.3"},
         {"inventory_hostname": "web-3", "berth_private_address": "10.10.0.9", "do_private_ipv4": "10.10.0.4",
          "ansible_host": "203.0.113.4"}]


def test_the_monitoring_host_scrapes_the_others_over_the_private_network_and_its_own_on_loopback():
    assert scrape_plan(FLEET, "web-1") == {"monitors": ["web-1"], "listen": "127.0.0.1:9100", "scrapers": [],
                                           "targets": ["10.10.0.3:9100", "10.10.0.9:9100"]}


def test_the_others_listen_on_their_private_address_open_to_the_monitoring_host_only():
    assert scrape_plan(FLEET, "web-2") == {"monitors": ["web-1"], "listen": "10.10.0.3:9100",
                                           "scrapers": ["10.10.0.2/32"], "targets": []}
    # berth_private_address wins over the DigitalOcean inventory's address; never the public one.
    assert scrape_plan(FLEET, "web-3", 9200)["listen"] == "10.10.0.9:9200"


def test_without_a_monitoring_host_or_alone_everything_stays_on_loopback():
    alone = [{**host, "berth_monitoring": False} for host in FLEET]
    assert scrape_plan(alone, "web-2") == {"monitors": [], "listen": "127.0.0.1:9100", "scrapers": [], "targets": []}
    assert scrape_plan([], "localhost")["listen"] == "127.0.0.1:9100"
    # berth_monitoring as an extra var (a string from -e) marks every host: each scrapes itself on loopback.
    every = [{**host, "berth_monitoring": "true"} for host in FLEET]
    assert scrape_plan(every, "web-2") == {"monitors": ["web-1", "web-2", "web-3"], "listen": "127.0.0.1:9100",
                                           "scrapers": [], "targets": []}
    # The lab: one network, so ansible_host is the private address.
    lab = [{"inventory_hostname": "lm-1", "berth_monitoring": "yes", "ansible_host": "172.18.0.5"},
           {"inventory_hostname": "lm-2", "ansible_host": "172.18.0.6"}]
    assert scrape_plan(lab, "lm-2")["scrapers"] == ["172.18.0.5/32"]
