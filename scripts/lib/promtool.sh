# promtool for the alert-rule tests (sourced by test.sh): Debian's prometheus package when it is missing.

ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  echo "promtool not found; installing Debian's prometheus package with apt-get" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "error: not root, cannot install prometheus; install the 'prometheus' package for promtool" >&2
    return 1
  fi
  # The package's service is never started: only its promtool is used.
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2 || return 1
  command -v promtool >/dev/null 2>&1
}
