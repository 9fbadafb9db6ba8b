#!/usr/bin/env bash
# The deploy workflow's command line, in one place: .github/workflows/deploy.yml runs exactly this,
# and tests/e2e/test_deploy_report.py runs it against the lab. Host keys are pinned (known_hosts from a
# secret, StrictHostKeyChecking=yes); the vault password comes from a file, never the command line.
#
# Environment:
#   BERTH_INVENTORY            inventory path (required)
#   BERTH_IMAGE                the image to deploy, by tag or digest (required); the inventory's
#                              berth_services refer to it as "{{ berth_image }}"
#   BERTH_SSH_KEY              private key file (required)
#   BERTH_KNOWN_HOSTS          known_hosts file holding every target's host key (required)
#   BERTH_VAULT_PASSWORD_FILE  vault password file (optional)
#   BERTH_REPORT_PATH          where the deploy report goes (default .berth/reports/ci.json)
#   BERTH_PLAYBOOK             default playbooks/deploy.yml
#   BERTH_EXTRA_VARS_FILE      one more variables file (optional, -e @file)
#   BERTH_GIT_SHA, BERTH_OPERATOR  recorded in each release record and the report
set -euo pipefail

need() {
  if [ -z "${!1:-}" ]; then echo "ci-deploy: $1 is not set" >&2; exit 2; fi
}
for name in BERTH_INVENTORY BERTH_IMAGE BERTH_SSH_KEY BERTH_KNOWN_HOSTS; do need "$name"; done
if [ ! -s "$BERTH_KNOWN_HOSTS" ]; then
  echo "ci-deploy: BERTH_KNOWN_HOSTS ($BERTH_KNOWN_HOSTS) is empty: pin the droplets' host keys" >&2
  exit 2
fi

export ANSIBLE_HOST_KEY_CHECKING=True
# Replaces ansible.cfg's ssh_args (the lab's): only the keys in BERTH_KNOWN_HOSTS are accepted.
export ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes \
-o UserKnownHostsFile=${BERTH_KNOWN_HOSTS} -o StrictHostKeyChecking=yes -o LogLevel=ERROR"
# Connections of this run only: a multiplexed connection another run opened (with other host-key
# settings) would otherwise be reused without any check.
control_dir=$(mktemp -d)
trap 'rm -rf "$control_dir"' EXIT
export ANSIBLE_SSH_CONTROL_PATH_DIR="$control_dir"

args=(-i "$BERTH_INVENTORY" --private-key "$BERTH_SSH_KEY"
      -e "berth_image=${BERTH_IMAGE}"
      -e "berth_report_path=${BERTH_REPORT_PATH:-.berth/reports/ci.json}")
if [ -n "${BERTH_VAULT_PASSWORD_FILE:-}" ]; then args+=(--vault-password-file "$BERTH_VAULT_PASSWORD_FILE"); fi
if [ -n "${BERTH_EXTRA_VARS_FILE:-}" ]; then args+=(-e "@${BERTH_EXTRA_VARS_FILE}"); fi
if [ -n "${BERTH_GIT_SHA:-}" ]; then args+=(-e "berth_git_sha=${BERTH_GIT_SHA}"); fi

ansible-playbook "${BERTH_PLAYBOOK:-playbooks/deploy.yml}" "${args[@]}"
