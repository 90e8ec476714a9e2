# shellcheck shell=bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by the scripts: puts the virtual environment and the collection on the paths.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VMNET_VENV:-$ROOT/.venv}
export PATH="$VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.build/collections"
export ANSIBLE_ROLES_PATH="$ROOT/roles"
export ANSIBLE_HOST_KEY_CHECKING=False
export ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-1}
export ANSIBLE_FORCE_COLOR=0
export ANSIBLE_STDOUT_CALLBACK=${ANSIBLE_STDOUT_CALLBACK:-default}
export ANSIBLE_CALLBACK_RESULT_FORMAT=${ANSIBLE_CALLBACK_RESULT_FORMAT:-yaml}
