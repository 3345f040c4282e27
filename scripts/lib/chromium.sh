# Headless Chromium for the console's browser tests (sourced by test.sh): Debian's chromium package when it is missing.

ensure_chromium() {
  if [ -n "${GOVLEDGER_CHROMIUM:-}" ] && [ -x "$GOVLEDGER_CHROMIUM" ]; then return 0; fi
  if ! command -v chromium >/dev/null 2>&1; then
    echo "chromium not found; installing Debian's chromium package with apt-get" >&2
    if [ "$(id -u)" != 0 ]; then
      echo "error: not root, cannot install chromium; install the 'chromium' package or set GOVLEDGER_CHROMIUM" >&2
      return 1
    fi
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 || return 1
  fi
  GOVLEDGER_CHROMIUM=$(command -v chromium)
  export GOVLEDGER_CHROMIUM
}
