"""The suite's groups, declared here and nowhere else; tests/runner.py runs them (make suite).

A pytest group is one pytest process on a droplet of its own (BERTH_DROPLET), destroyed after it
(CLEANUP). Every test collected from TREE must belong to exactly one group: the runner collects each
group before it runs anything and fails on a test in no group or in two. Molecule groups are the
scenarios in molecule/*/molecule.yml, found by the runner; declare one here only to change its
estimate, timeout or `after`.

`estimate` (seconds, measured on a quiet clean clone, 2 cores, 3 at a time, at 8d4ddbe or since) decides the start
order: longest first, so the last to start are short. `provision` is declared longer than it is: the
groups after it wait for its snapshot, so it starts first. `after=After(marker, producer)` makes a group wait,
without taking a slot, until group `producer` has written `marker` (a path in the checkout).
"""

from runner import After, Group

# Commands run in order before any group starts; one failing fails the run.
PREPARE: list[list[str]] = []

# The tests that must all be in a group.
TREE = ["tests/integration", "tests/e2e"]

# Run after each pytest group, "{droplet}" replaced by its droplet; its failure is ignored.
CLEANUP = [".venv/bin/python", "lab/lab.py", "droplet", "destroy", "{droplet}"]

# A Molecule scenario's estimate when it is not declared below (measured: 60-170 s).
MOLECULE_ESTIMATE = 150

# The provision group provisions a droplet from scratch and snapshots it (tests/base_snapshot.py); the
# groups that only need a provisioned host start from that snapshot once it is there.
BASE = After(".lab/base/ready", "provision")
MAKE_BASE = {"BERTH_BASE": "make"}
FROM_BASE = {"BERTH_BASE": "clone"}

GROUPS = [
    Group("provision", droplet="droplet-1", estimate=600, env=MAKE_BASE,
          args=["tests/e2e/test_provision.py", "tests/e2e/test_fresh_droplet.py"]),
    # No droplet: the lab registries, the gate and the controller-side plays.
    Group("integration", estimate=125, args=["tests/integration", "--ignore=tests/integration/test_infra.py",
                                             "--ignore=tests/integration/test_do_monitoring.py",
                                             "--ignore=tests/integration/test_do_emulator.py",
                                             "--ignore=tests/integration/test_quickstart.py"]),
    # No droplet: infra.yml, the DigitalOcean modules and the quickstart against the spec-validating emulator.
    Group("cloud", estimate=188, args=["tests/integration/test_infra.py",
                                       "tests/integration/test_do_monitoring.py",
                                       "tests/integration/test_do_emulator.py",
                                       "tests/integration/test_quickstart.py"]),
    # test_real_apps, one app each, every scenario starting where the one before left off: 8, 10 and 9
    # playbook runs (was 11, 14, 14); quiet ~210, ~250, ~255 s (measured 264, 507, 294 s under load).
    Group("apps-warm", droplet="droplet-2", estimate=210, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_real_apps.py", "-k", "warm"]),
    Group("apps-lean", droplet="droplet-3", estimate=250, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_real_apps.py", "-k", "lean"]),
    Group("apps-stubborn", droplet="droplet-4", estimate=255, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_real_apps.py", "-k", "stubborn"]),
    # 4 cases in 9 playbook runs (15 before #26's cuts): 204 s at load 8-10 (224 s quiet before).
    Group("changes", droplet="droplet-5", estimate=150, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_every_change.py"]),
    # 15 playbook runs (18 before): 304 s at load 10-12 (263 s quiet before; the switch and hook-once setups go).
    Group("release", droplet="droplet-6", estimate=205, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_release.py"]),
    # Bound by the DR droplet's from-scratch build, now started before the clone: 298 s at load 15-20.
    Group("backup", droplet="droplet-7", estimate=155, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_backup.py"]),
    Group("inputs", droplet="droplet-8", estimate=100, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_demo_deploy.py", "tests/e2e/test_bad_input.py", "tests/e2e/test_readme_example.py"]),
    Group("infra-lab", droplet="cloud-1", estimate=87, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_infra_lab.py"]),
    Group("report", droplet="droplet-9", estimate=38, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_deploy_report.py"]),
    Group("provision-inputs", droplet="droplet-10", estimate=114, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_provision_inputs.py"]),
    # Two lab registries in one stack: a private app image, a public hub database, a wrong hub password.
    Group("registries", droplet="registries-1", estimate=33, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_registries.py"]),
    # Two droplets (pin-1, pin-1-b): a rolling deploy while its tag is moved.
    Group("one-pin", droplet="pin-1", estimate=66, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_one_pin.py"]),
    # Server-sent events and websockets open across a deploy and a rollback: the bounded drain (#22; 2 passed
    # in 185 s from the base snapshot, 24 s of it the clone).
    Group("drain", droplet="drain-1", estimate=80, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_drain.py"]),
    # Example system 4 (#22): two droplets (plat-1, plat-2) behind the lab HAProxy, external PostgreSQL and Redis
    # (3 passed in 462 s at load 25-33, 2026-12-05; its first deploy took 53-121 s of it).
    Group("example-platform", droplet="plat-1", estimate=130, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_example_platform.py"]),
    # Example system 5 (#22): web, api (2 replicas) and AI service by service name, PostgreSQL inside, a backup
    # round trip; Traefik recreated by its role (19 s). 5 passed in 210 s at load 15-18 (92 s quiet before these two).
    Group("example-three-tier", droplet="three-tier-1", estimate=134, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_example_three_tier.py"]),
    # Prometheus, Alertmanager and a webhook receiver on the droplet, at lab cadence, on a clone provisioned again
    # with new variables: 11 passed in 326 s at load 1-3 (fixture 96, five deploys 99, one lock hold 73, the
    # independent alerts 56); before #26's cuts 438 s quiet, 757 s at load 13-20.
    Group("monitoring", droplet="mon-1", estimate=335, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_monitoring.py"]),
    # Two droplets (monfleet-1 monitoring, monfleet-2 scraped): fleet scraping over the private network.
    Group("monitoring-fleet", droplet="monfleet-1", estimate=105, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_monitoring_fleet.py"]),
    # Three droplets (fleet-1, -2, -3) behind the lab's HAProxy (lab.py lb up fleet): rolling deploys (7 tests,
    # 12 playbook runs: 394 s quiet; 679 s -> 606 s side by side at load 10-18 once the extra 200-answer lead-ins
    # and tails, the 10 s gate (now 3 s) and the 20 s confirm window on host 2 (now 5 s) went).
    Group("fleet", droplet="fleet-1", estimate=355, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_fleet.py"]),
    # The example systems (issue 22), each from its own inventory and vault: a deploy, the next release under
    # HTTPS load, a rollback; web-forum also a backup restored. Measured at load 20-30 (2026-12-05): 177 s and
    # 346 s (its first deploy pulls PostgreSQL and three images: 132 s of it).
    Group("example-science-tool", droplet="science-1", estimate=66, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_example_science_tool.py"]),
    Group("example-web-forum", droplet="forum-1", estimate=85, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_example_web_forum.py"]),
    # Measured 319 s (3 passed) at load 16-27 on 2 cores: 104 s first deploy (pulls, PostgreSQL init), 142 s
    # next release + rollback under load, 34 s backup + restore, 37 s clone + provision read.
    Group("example-simulation", droplet="simulation-1", estimate=126, after=BASE, env=FROM_BASE,
          args=["tests/e2e/test_example_simulation.py"]),
    # Molecule scenarios, declared for their estimates only (quiet clean clone at 8d4ddbe): short ones start last.
    *[Group(name, kind="molecule", estimate=seconds) for name, seconds in [
        ("docker", 73), ("firewall", 58), ("ssh_hardening", 58), ("traefik", 57), ("registry_login", 43),
        ("pg_backup", 38), ("deploy_user", 28), ("layout", 28)]],
]
