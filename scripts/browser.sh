#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when it is missing and we may install it.
set -uo pipefail
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "==> installing Debian chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "could not install chromium: browser tests will skip"
fi
exit 0
