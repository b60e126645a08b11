#!/usr/bin/env bash
# Runs every Kiln test on a fresh machine: installs what the tests need, then the lints and the
# whole suite (unit tests, and integration tests that drive the real binary with the aws CLI,
# boto3, git, Docker and headless Chromium), with a throwaway PostgreSQL cluster for the tests
# of the PostgreSQL store and the replicas (stopped when this script ends, however it ends);
# then the API, builds, badges, console (and its log viewer), webhooks, logs and reports suites
# once more on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v busybox >/dev/null || need_apt+=(busybox-static)
command -v zip >/dev/null || need_apt+=(zip unzip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python3 - <<'PY' || python3 -m pip install -q awscli boto3 'moto[server]'
import awscli, boto3, moto  # noqa: F401
PY
command -v aws >/dev/null || python3 -m pip install -q awscli
# axe-core for the console's accessibility checks: the PyPI package ships axe.min.js (no npm).
python3 -c 'import axe_playwright_python' 2>/dev/null ||
  python3 -m pip install -q --no-deps axe-playwright-python
command -v cargo-nextest >/dev/null || cargo install -q cargo-nextest --locked

# shellcheck source=postgres-cluster.sh
source scripts/postgres-cluster.sh
postgres_cluster_start
trap postgres_cluster_stop EXIT

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo nextest run --workspace --no-fail-fast "$@"
# nextest does not run doctests.
cargo test --doc --workspace -q

# The user-facing suites again, with every server on a PostgreSQL database of its own.
KILN_TEST_STORE=postgres cargo nextest run -p kiln --no-fail-fast \
  --test api_projects --test builds --test badges --test console --test webhooks \
  --test logs --test store_semantics --test reports --test reports_api --test fleets --test auto_retry --test agents --test cloudwatch_logs \
  --test secrets --test public_builds --test cache --test console_history --test console_build \
  --test console_log "$@"
