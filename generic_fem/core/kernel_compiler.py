"""Compile generated C code into a shared library, cached on disk, loaded with :mod:`ctypes`.

The system C compiler (``$CC``, default ``cc``) with :data:`FLAGS` (``-O3
-march=native``, SIMD, no ``-ffast-math``) builds each source once into
``$GENERIC_FEM_CACHE/kernels`` (default ``~/.cache/generic-fem/kernels``), named by a
hash of the source, the compiler, the flags and the CPU (``-march=native`` code
compiled on one kind of cluster node must not be loaded on another sharing the
cache).  Concurrent MPI ranks are safe: each compiles to a private file and renames
it atomically.  Used by the compiled pair sums (:mod:`generic_fem.kernels.pair_kernels`) and
by the pair weights' own evaluation (:meth:`generic_fem.kernels.pair_weights.PairWeight.values`).
"""
import ctypes
import hashlib
import os
import subprocess
import tempfile

__all__ = ["FLAGS", "kernel_cache_dir", "compile_library"]

#: compiler flags of every generated library.  No -ffast-math: linked into a shared
#: library it would switch the whole process to flush-to-zero; the two "unsafe" flags
#: only let the compiler evaluate both branches of the self-pair test in SIMD lanes
#: (the data are finite).
FLAGS = ["-O3", "-march=native", "-mprefer-vector-width=256", "-fopenmp-simd", "-fno-math-errno",
         "-fno-trapping-math", "-ffinite-math-only", "-fPIC", "-shared"]
_loaded = {}


def kernel_cache_dir():
    """Where compiled kernels are kept."""
    base = os.environ.get("GENERIC_FEM_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "generic-fem"))
    return os.path.join(base, "kernels")


def cpu_signature():
    """The CPU model and instruction-set flags (part of a library's cache key)."""
    import platform
    sig = platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("model name", "flags")):
                    sig += line
                if line.strip() == "":
                    break
    except OSError:
        pass
    return sig


def compile_library(src, what, prefix="pairs"):
    """The :class:`ctypes.CDLL` of the C source ``src``, compiled on first use (once per
    process and, on disk, once per source, compiler, flags and CPU).

    :arg what: what the code is, for the error message of a failed compilation.
    :arg prefix: the cached file's name prefix."""
    if src in _loaded:
        return _loaded[src]
    cc = os.environ.get("CC", "cc")
    digest = hashlib.sha256((src + cc + " ".join(FLAGS) + cpu_signature()).encode()).hexdigest()[:16]
    d = kernel_cache_dir()
    os.makedirs(d, exist_ok=True)
    lib = os.path.join(d, f"{prefix}_{digest}.so")
    if not os.path.exists(lib):
        with tempfile.TemporaryDirectory(dir=d) as tmp:
            cfile = os.path.join(tmp, "kernel.c")
            with open(cfile, "w") as fh:
                fh.write(src)
            out = os.path.join(tmp, "kernel.so")
            res = subprocess.run([cc, *FLAGS, cfile, "-o", out, "-lmvec", "-lm"], capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"compiling {what} failed ({cc} {' '.join(FLAGS)}):\n{res.stderr}")
            os.replace(out, lib)
    so = ctypes.CDLL(lib)
    _loaded[src] = so
    return so
