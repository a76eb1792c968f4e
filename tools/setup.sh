#!/usr/bin/env bash
# generic-fem set-up: Debian packages, PETSc, a virtual environment with Firedrake.
#
# Idempotent and cached outside the repository.  Every step is skipped when its
# result is already in the cache, so a second run takes seconds.
#
#   GENERIC_FEM_CACHE   cache root (default: ~/.cache/generic-fem)
#   GENERIC_FEM_JOBS    parallel build jobs (default: number of cores)
#
# Layout of the cache (each entry keyed by the versions and options that made it):
#   $CACHE/petsc-3.26.0-<key>/       PETSc source tree + build (PETSC_ARCH=arch-gfem)
#   $CACHE/venv-<key>/               Python virtual environment (Firedrake & co)
#   $CACHE/logs/                     one log file per step
#   $CACHE/compiler-cache/           Firedrake/TSFC/PyOP2 kernel caches
set -euo pipefail

PETSC_VERSION=3.26.0
PETSC4PY_VERSION=3.26.0
FIREDRAKE_VERSION=2026.10.0
PY=${GENERIC_FEM_PYTHON:-python3}
CACHE=${GENERIC_FEM_CACHE:-$HOME/.cache/generic-fem}
JOBS=${GENERIC_FEM_JOBS:-$(nproc)}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOGS=$CACHE/logs
mkdir -p "$CACHE" "$LOGS"

DEB_PACKAGES="bison flex gfortran ninja-build pkg-config zlib1g-dev libopenmpi-dev \
openmpi-bin libhdf5-openmpi-dev libhwloc-dev libmumps-ptscotch-dev libmetis-dev \
libopenblas-dev libptscotch-dev libscalapack-openmpi-dev libsuitesparse-dev \
libfftw3-dev libfftw3-mpi-dev"

HDF5_DIR_DEB=/usr/lib/x86_64-linux-gnu/hdf5/openmpi
PETSC_CONFIGURE_OPTS=(--with-c2html=0 --with-debugging=0
  --with-fortran-bindings=0 --with-shared-libraries=1 --with-strict-petscerrorcode
  --with-cc=mpicc --with-cxx=mpicxx --with-fc=mpif90 --with-cuda=0
  --COPTFLAGS=-O2 --CXXOPTFLAGS=-O2 --FOPTFLAGS=-O2
  --with-hdf5-include=/usr/include/hdf5/openmpi
  "--with-hdf5-lib=[$HDF5_DIR_DEB/libhdf5.so,$HDF5_DIR_DEB/libhdf5_hl.so]"
  --with-metis --with-mumps --with-ptscotch
  "--with-ptscotch-lib=-lptesmumps -lptscotch -lptscotcherr -lesmumps -lscotch -lscotcherr"
  --with-ptscotch-include=/usr/include/scotch
  --with-scalapack-lib=-lscalapack-openmpi --with-suitesparse --with-zlib --with-bison)

# Python packages of the environment (besides PETSc/petsc4py/h5py/firedrake).
PY_EXTRA="pytest mpi-pytest matplotlib scipy sphinx mpmath vtk"
# Add-ons installed into an existing environment (binary wheels; a change here does not
# rebuild Firedrake: the environment keeps its key, a marker names the add-ons' versions).
PY_ADDONS="fmm3dpy==2.1.0"

hash_of() { printf '%s' "$*" | sha256sum | cut -c1-12; }
PETSC_KEY=$(hash_of "$PETSC_VERSION ${PETSC_CONFIGURE_OPTS[*]} $DEB_PACKAGES")
PETSC_DIR_C=$CACHE/petsc-$PETSC_VERSION-$PETSC_KEY
PETSC_ARCH_C=arch-gfem
PYVER=$($PY -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
VENV_KEY=$(hash_of "$PYVER $PETSC_KEY $PETSC4PY_VERSION $FIREDRAKE_VERSION $PY_EXTRA")
VENV=$CACHE/venv-$VENV_KEY

say() { printf '[generic-fem setup] %s\n' "$*" >&2; }

# step NAME CMD...: run CMD with output to $LOGS/NAME.log; on failure name the step,
# the command and the log, show its tail, and stop.
step() {
  local name=$1; shift
  local log=$LOGS/$name.log
  local t0=$SECONDS
  say "step '$name' ... (log: $log)"
  # A subshell whose status is not tested by `if`, so that `set -e` holds inside it.
  local rc=0
  set +e
  ( set -e; "$@" ) >"$log" 2>&1
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    say "FAILED: step '$name'"
    say "  command: $*"
    say "  log file: $log   (last 30 lines below)"
    tail -n 30 "$log" >&2
    exit 1
  fi
  say "step '$name' done in $((SECONDS - t0)) s"
}

need_debs() {
  local missing=()
  for p in $DEB_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  printf '%s\n' "${missing[@]}"
}

install_debs() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@"
}

build_petsc() {
  # PETSc records its own absolute path at configure time, so it is built in its
  # final place; the .complete marker is written only after a successful build.
  rm -rf "$PETSC_DIR_C"
  local dl=$CACHE/.download-petsc-$PETSC_VERSION
  if ! ls "$dl"/petsc-*.tar.gz >/dev/null 2>&1; then
    rm -rf "$dl"; mkdir -p "$dl"
    $PY -m pip download --no-deps "petsc==$PETSC_VERSION" -d "$dl"
  fi
  mkdir -p "$PETSC_DIR_C"
  tar -xzf "$dl"/petsc-*.tar.gz -C "$PETSC_DIR_C" --strip-components=1
  cd "$PETSC_DIR_C"
  ./configure PETSC_ARCH=$PETSC_ARCH_C "${PETSC_CONFIGURE_OPTS[@]}"
  make PETSC_DIR="$PWD" PETSC_ARCH=$PETSC_ARCH_C MAKE_NP="$JOBS" all
}

export_build_env() {
  export PETSC_DIR=$PETSC_DIR_C PETSC_ARCH=$PETSC_ARCH_C HDF5_MPI=ON CC=mpicc CXX=mpicxx
  export HDF5_DIR=$HDF5_DIR_DEB MAKEFLAGS="-j$JOBS"
}

build_venv() {
  local tmp=$VENV
  rm -rf "$tmp"
  $PY -m venv "$tmp"
  local pip="$tmp/bin/python -m pip"
  export_build_env
  $pip install -U pip
  $pip install -U mpi4py numpy cython pkgconfig setuptools wheel
  # Never let pip build h5py in an isolated environment (it recompiles mpi4py).
  $pip install --no-binary h5py --no-build-isolation h5py
  $pip install --no-build-isolation "petsc4py==$PETSC4PY_VERSION"
  # h5py is already there (built above), so pip does not build another one (in an
  # isolated environment that would compile mpi4py from source: > 20 GB of memory).
  "$tmp/bin/python" -c "import h5py; assert h5py.get_config().mpi, 'h5py built without MPI'"
  # Firedrake's build requirements include petsc4py==3.26.0 (a source distribution):
  # an isolated build would compile petsc4py a second time (~5 min).  Install the
  # build requirements here and build Firedrake without isolation.
  # (cgen and genpy are source distributions of Firedrake's dependencies that need their
  # own, isolated build backend: install them first too.)
  $pip install "libsupermesh>=2026.3" "firedrake-rtree>=2026.3.0" petsctools pybind11 \
    "setuptools>=77.0.3" "rtree>=1.2" "cgen>=2025.1" genpy
  $pip install --no-build-isolation --no-binary h5py "firedrake[check]==$FIREDRAKE_VERSION"
  $pip install pyadjoint-ad $PY_EXTRA
  "$tmp/bin/python" -c "import firedrake, petsc4py, h5py; print('firedrake', firedrake.__version__ if hasattr(firedrake, '__version__') else 'ok')"
  touch "$tmp/.complete"
}

install_addons() {
  "$VENV/bin/python" -m pip install --no-deps $PY_ADDONS     # (numpy stays the one petsc4py was built with)
  touch "$VENV/.addons-$ADDONS_KEY"
}

install_project() {
  "$VENV/bin/python" -m pip install --no-deps --no-build-isolation -e "$REPO"
}

# -- 1. Debian packages -------------------------------------------------------
missing=$(need_debs)
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086
  step debian-packages install_debs $missing
fi

# -- 2. PETSc -------------------------------------------------------------------
if [ ! -f "$PETSC_DIR_C/.complete" ]; then
  step petsc-build build_petsc
  touch "$PETSC_DIR_C/.complete"
fi

# -- 3. Virtual environment ------------------------------------------------------
if [ ! -f "$VENV/.complete" ]; then
  step venv build_venv
fi

# -- 3b. Add-ons (cheap; redone when PY_ADDONS changes) ----------------------------
ADDONS_KEY=$(hash_of "$PY_ADDONS")
if [ ! -f "$VENV/.addons-$ADDONS_KEY" ]; then
  step addons install_addons
fi

# -- 4. This checkout, editable (cheap; redone when the checkout moved) -----------
here=$(cd / && "$VENV/bin/python" -c 'import generic_fem, os; print(os.path.dirname(os.path.dirname(generic_fem.__file__)))' 2>/dev/null || true)
if [ "$here" != "$REPO" ]; then
  step install-project install_project
fi

# Emit the runtime environment for `eval`.
cat > "$CACHE/env-$VENV_KEY.sh" <<ENV
export GENERIC_FEM_VENV='$VENV'
export PETSC_DIR='$PETSC_DIR_C' PETSC_ARCH='$PETSC_ARCH_C'
export PATH='$VENV/bin':"\$PATH"
export VIRTUAL_ENV='$VENV'
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export PYOP2_CACHE_DIR='$CACHE/compiler-cache/pyop2'
export FIREDRAKE_TSFC_KERNEL_CACHE_DIR='$CACHE/compiler-cache/tsfc'
export MPLBACKEND=Agg
ENV
echo "$CACHE/env-$VENV_KEY.sh"
