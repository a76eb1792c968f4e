"""generic-fem: structure-preserving finite elements for GENERIC systems on Firedrake.

A model (``forms/``) states ``E``, ``S``, ``L``, ``M`` as UFL
(:class:`~generic_fem.models.model.GenericModel`); this package turns it into a solver
(:class:`~generic_fem.solvers.steppers.Stepper`, :func:`~generic_fem.drivers.run.run`), checks its
structure (:mod:`generic_fem.friction.checks`) and evaluates the energy-dissipation
functional ``J_T`` (:func:`~generic_fem.drivers.functional.energy_dissipation_functional`; of
curves of pairs ``(f, U)``, non-negative up to its reported transport and residual
terms: :func:`~generic_fem.drivers.grazing.pair_energy_dissipation`).

Sign convention: ``S`` is the GENERIC entropy (non-decreasing); ``H = −S``
(``∫ f log f`` for the Boltzmann entropy) is reported alongside and decreases.
"""
from .core.errors import InvalidParameterError, InvalidStateError, StepFailedError  # noqa: F401
from .models.model import GenericModel  # noqa: F401
from .solvers.steppers import Stepper, SCHEMES, DEFAULT_SOLVER_PARAMETERS  # noqa: F401
from .core.history import History  # noqa: F401
from . import run as _run_module  # noqa: F401  (the old path's alias, loaded before the function is bound)
from .drivers.run import run, state_diagnostics, save_checkpoint, load_checkpoint, restore_state  # noqa: F401
from .drivers.functional import energy_dissipation_functional, EnergyDissipationResult  # noqa: F401
from .drivers.rates import time_derivatives  # noqa: F401
from .drivers.grazing import (pair_energy_dissipation, PairFunctionalResult, GradientRate, PairRate,  # noqa: F401
                              least_action_rate, tgre_residual, solve_tgre, sample_curve)
from .core.meshes import (velocity_box, velocity_ball, velocity_half_plane, graded_half_disc, geometric_edges,  # noqa: F401
                          phase_space_mesh, phase_space_box)
from .friction.two_point import TwoPointFriction  # noqa: F401
from .core.petsc_options import discard_foreign_options  # noqa: F401

__version__ = "0.1.0"
