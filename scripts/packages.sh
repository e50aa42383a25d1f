# Sourced by scripts/run and scripts/test: the Debian packages jnedu needs,
# installed when running as root, otherwise the exact install line is
# printed. Usage: need_packages run|test

# What building and running jnedu needs.
run_packages() {
  command -v gcc >/dev/null 2>&1 || echo gcc
  command -v pkg-config >/dev/null 2>&1 || echo pkg-config
  # speech scoring: PocketSphinx through cgo, with its US-English model
  dpkg -s libpocketsphinx-dev >/dev/null 2>&1 || echo libpocketsphinx-dev
  dpkg -s pocketsphinx-en-us >/dev/null 2>&1 || echo pocketsphinx-en-us
  # video processing; synthesized prompt audio for draft exam papers
  command -v ffmpeg >/dev/null 2>&1 || echo ffmpeg
  command -v espeak-ng >/dev/null 2>&1 || echo espeak-ng
}

# What the tests need besides.
test_packages() {
  command -v chromium >/dev/null 2>&1 || echo chromium
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || echo fonts-noto-cjk
  command -v sox >/dev/null 2>&1 || echo sox
  command -v node >/dev/null 2>&1 || echo nodejs
  command -v npm >/dev/null 2>&1 || echo npm
  { command -v psql >/dev/null 2>&1 && command -v pg_dump >/dev/null 2>&1; } || echo postgresql-client
}

need_packages() {
  local pkgs
  if [ "$1" = test ]; then
    pkgs=$( (run_packages; test_packages) | sort -u | tr '\n' ' ')
  else
    pkgs=$(run_packages | sort -u | tr '\n' ' ')
  fi
  pkgs=${pkgs% }
  [ -z "$pkgs" ] && return 0
  if [ "$(id -u)" = 0 ]; then
    printf '\n==> installing Debian packages: %s\n' "$pkgs"
    # shellcheck disable=SC2086 # word splitting is wanted
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
  else
    echo "jnedu needs Debian packages; run as root:" >&2
    echo "  sudo apt-get install -y $pkgs" >&2
    exit 1
  fi
}
