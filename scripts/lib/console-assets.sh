# The console's scripts (charts, the embedded-app host, the demo micro app), bundled from npm packages by esbuild
# (sourced by test.sh and run.sh). Rebuilt when a source, the lock file or a message schema is newer than the bundles.

ensure_console_assets() {
  local client=src/GovernanceLedger/WebConsole/client
  local out=src/GovernanceLedger/wwwroot/console/embed-host.js
  if [ -f "$out" ] && [ -z "$(find "$client/src" "$client/build.mjs" "$client/package-lock.json" schemas/embed -newer "$out" -print -quit 2>/dev/null)" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found; installing Debian's nodejs and npm packages with apt-get" >&2
    if [ "$(id -u)" != 0 ]; then
      echo "error: not root, cannot install npm; install Node.js 18 or later" >&2
      return 1
    fi
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >&2 || return 1
  fi
  (cd "$client" && npm ci --no-audit --no-fund --loglevel=error >&2 && node build.mjs >&2)
}
