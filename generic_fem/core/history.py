"""Per-step history of a run: energy, entropy, invariants, dissipation, solver statistics.

Written as CSV (one row per step, header = column names) and JSON (columns plus the
run's metadata).  Only rank 0 writes; every rank holds the same numbers.
"""
import csv
import json
import math
import os

import numpy as np

__all__ = ["History"]


class History:
    """A table of per-step records (dicts with the same keys)."""

    def __init__(self, metadata=None):
        self.records = []
        self.metadata = dict(metadata or {})
        self.trajectory = []  # optional: (t, w copy) pairs, see run(keep_trajectory=True)

    def append(self, record):
        self.records.append(dict(record))

    def __len__(self):
        return len(self.records)

    @property
    def columns(self):
        cols = []
        for r in self.records:
            for k in r:
                if k not in cols:
                    cols.append(k)
        return cols

    def column(self, name):
        return [r.get(name, math.nan) for r in self.records]

    def table(self, columns=None, fmt="{:>13.6g}"):
        """A plain-text table (for printing)."""
        cols = columns or self.columns
        head = " ".join(f"{c:>13.13s}" for c in cols)
        lines = [head]
        for r in self.records:
            cells = []
            for c in cols:
                v = r.get(c, "")
                cells.append(fmt.format(v) if isinstance(v, (int, float)) else f"{str(v):>13s}")
            lines.append(" ".join(cells))
        return "\n".join(lines)

    def write(self, prefix, comm=None):
        """Write ``prefix.csv`` and ``prefix.json`` (rank 0 only)."""
        if comm is not None and comm.rank != 0:
            return
        d = os.path.dirname(prefix)
        if d:
            os.makedirs(d, exist_ok=True)
        cols = self.columns
        with open(prefix + ".csv", "w", newline="") as fh:
            wr = csv.writer(fh)
            wr.writerow(cols)
            for r in self.records:
                # (repr of a NumPy float is "np.float64(...)": write the Python float's)
                wr.writerow([repr(float(r[c])) if isinstance(r.get(c), (float, np.floating)) else r.get(c, "")
                             for c in cols])
        with open(prefix + ".json", "w") as fh:
            json.dump({"metadata": self.metadata,
                       "columns": {c: self.column(c) for c in cols}}, fh, indent=1)

    @classmethod
    def read_csv(cls, path):
        h = cls()
        with open(path) as fh:
            for row in csv.DictReader(fh):
                rec = {}
                for k, v in row.items():
                    if v == "":          # a column this row does not have (e.g. step 0)
                        rec[k] = math.nan
                        continue
                    try:
                        rec[k] = float(v)
                    except (TypeError, ValueError):
                        rec[k] = v
                h.append(rec)
        meta = os.path.splitext(path)[0] + ".json"
        if os.path.exists(meta):     # written beside the CSV by History.write
            with open(meta) as fh:
                h.metadata = json.load(fh).get("metadata", {})
        return h

    def numeric_columns(self):
        """The columns whose every value is a number (``nan`` for a missing cell), at
        least one of them not ``nan``."""
        def numeric(vals):
            return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) \
                and any(not math.isnan(v) for v in vals)
        return [c for c in self.columns if numeric(self.column(c))]

    def invariant_columns(self):
        """The columns of the model's invariants: from the metadata ``run`` writes, else
        the columns named ``mass*``, ``momentum*``, ``energy*``."""
        names = self.metadata.get("invariants")
        if names is None:
            names = [c for c in self.columns if c.startswith(("mass", "momentum", "energy"))]
        return [c for c in names if c in self.numeric_columns()]
