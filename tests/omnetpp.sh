# Sourced by tests/run: a real OMNeT++ for the real tier of the test suite (marker `omnetpp`).
#
# OPP_CI_OMNETPP_SOURCE names an OMNeT++ source tarball (CI: ../shared/omnetpp/omnetpp-6.1.0-src.tar.gz):
# it is built once, command line only, as OMNeT++'s official image builds it (`install.sh --no-gui`),
# into $OPP_CI_TEST_CACHE/omnetpp-SHA (SHA: the tarball's sha256), and reused while the tarball is the
# same. Else an OMNeT++ already on PATH (its setenv sourced) is used. Else the real tier skips.
# Either way the tests get the tree as OPP_CI_TEST_OMNETPP (its root); nothing is put on PATH.

OMNETPP_BUILD_PACKAGES=(bison flex perl make g++ python3 pkg-config)

# Prints the root of the OMNeT++ the real tier uses, building it first when needed; nothing when none.
omnetpp_for_tests() {
  local source=${OPP_CI_OMNETPP_SOURCE:-} found
  if [[ -z $source ]]; then
    found=$(command -v opp_run 2>/dev/null) || { PHASE_NOTE="none: set OPP_CI_OMNETPP_SOURCE=omnetpp-VERSION-src.tar.gz (or put OMNeT++ on PATH) to run the real tier"; return 0; }
    OPP_CI_TEST_OMNETPP=$(cd "$(dirname "$(readlink -f "$found")")/.." && pwd)
    PHASE_NOTE="on PATH: $OPP_CI_TEST_OMNETPP"
    return 0
  fi
  [[ -f $source ]] || { echo; echo "OPP_CI_OMNETPP_SOURCE=$source is not a file: name an OMNeT++ source tarball" >&2; return 2; }
  local cache=${OPP_CI_TEST_CACHE:-$HOME/.cache/opp-ci-tests} sha dest
  sha=$(sha256sum "$source" | cut -c1-16) || return 2
  dest=$cache/omnetpp-$sha
  if [[ -f $dest/.opp-ci-built ]]; then
    OPP_CI_TEST_OMNETPP=$(cat "$dest/.opp-ci-built")
    PHASE_NOTE="cached: $OPP_CI_TEST_OMNETPP"
    return 0
  fi
  if [[ $(id -u) == 0 ]]; then apt_install "${OMNETPP_BUILD_PACKAGES[@]}" || return 2; fi
  build_omnetpp "$source" "$dest" || return 2
  OPP_CI_TEST_OMNETPP=$(cat "$dest/.opp-ci-built")
  PHASE_NOTE="built: $OPP_CI_TEST_OMNETPP"
}

# Builds OMNeT++'s libraries and tools (no samples: the tests build the samples they use, from sources).
build_omnetpp() {
  local source=$1 dest=$2 root log
  rm -rf "$dest" && mkdir -p "$dest" || return 2
  tar -xzf "$source" -C "$dest" || return 2
  root=$(find "$dest" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  [[ -f $root/setenv && -f $root/configure.user.dist ]] || { echo; echo "$source is not an OMNeT++ source tarball" >&2; return 2; }
  log=$dest/build.log
  (
    cd "$root" || exit 2
    cp configure.user.dist configure.user
    sed -i -e 's/^WITH_QTENV=yes/WITH_QTENV=no/' -e 's/^WITH_OSG=yes/WITH_OSG=no/' -e 's/^WITH_OSGEARTH=yes/WITH_OSGEARTH=no/' \
      -e 's/^PREFER_CLANG=yes/PREFER_CLANG=no/' -e 's/^PREFER_LLD=yes/PREFER_LLD=no/' \
      -e 's/^WITH_SCAVE_PYTHON_BINDINGS=yes/WITH_SCAVE_PYTHON_BINDINGS=no/' -e 's/^USE_CCACHE_PREFIX=yes/USE_CCACHE_PREFIX=no/' configure.user
    export PYTHONPATH= OMNETPP_IMAGE_PATH=
    set +u  # setenv reads variables it may not find set
    . ./setenv -q || exit 2
    ./configure WITH_QTENV=no WITH_OSG=no WITH_OSGEARTH=no WITH_SCAVE_PYTHON_BINDINGS=no && make -j"$(nproc)" MODE=release base
  ) >"$log" 2>&1 || { echo; tail -30 "$log" >&2; echo "building OMNeT++ failed (log above, all of it in $log)" >&2; return 2; }
  echo "$root" >"$dest/.opp-ci-built"
}
