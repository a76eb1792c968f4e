r"""The one-step schemes in entropy variables, as data.

Every scheme solves one residual (:mod:`generic_fem.solvers.steppers`),

.. math::

   ⟨φ, F(w^{n+1}) − F(w^n)⟩ − Δt ⟨φ, L(f_L) dE(f_L)⟩ + Δt ⟨φ, M(f_*) θ⟩ = 0,

and differs in the argument ``θ`` of the friction, the mobility state ``f_*`` and the
state ``f_L`` of the reversible part; and in how its entropy statement is enforced
(see the :mod:`generic_fem.solvers.steppers` docstring for the statements):

``"backward-euler"``
    ``θ = w^{n+1}``, ``f_* = f_L = F(w^{n+1})``; first order.
``"minimizing-movement"``
    ``θ = w^{n+1}``, ``f_* = f^n`` (frozen mobility), ``f_L = F(w^{n+1})``; first order.
``"midpoint"``
    ``θ = w^n + α (w^{n+1} − w^n)``, ``f_* = f_L = F(θ)`` with ``α ≥ ½`` raised to the
    chain-rule bound ``α*``, and node by node to the floor that damps stiff modes
    (:mod:`~generic_fem.solvers.stiff_damping`); second order.
``"discrete-gradient"``
    as the midpoint, with ``α = α*`` solved for (the discrete chain rule with
    equality; under the nodal rule node-wise, a node that moves far leaning implicit:
    :mod:`~generic_fem.solvers.motion_map`; a node-wise floor only on request, the stepper option
    ``dg_damping_after``: :mod:`~generic_fem.solvers.stiff_damping`,
    :mod:`~generic_fem.solvers.alpha_rounds`); second order.

A :class:`Scheme` answers what the stepper, the adjoint and the run driver ask of a
scheme, so that they test properties, not names.
"""
from ..core.errors import InvalidParameterError

__all__ = ["Scheme", "SCHEMES", "scheme_named"]


class Scheme:
    """One scheme (module docstring).

    :arg name: its name (the ``scheme=`` string).
    :arg order: its order in ``Δt`` (also the predictor's extrapolation order).
    :arg alpha: ``None`` (``θ = w^{n+1}``), ``"bound"`` (``α ≥ α*``, the midpoint scheme)
        or ``"solved"`` (``α = α*``, the discrete gradient).
    :arg frozen_mobility: ``f_* = f^n``.
    """

    def __init__(self, name, order, alpha=None, frozen_mobility=False):
        self.name = name
        self.order = int(order)
        self.alpha = alpha
        self.frozen_mobility = bool(frozen_mobility)

    @property
    def uses_alpha(self):
        """``θ = w^n + α (w^{n+1} − w^n)`` (the second-order schemes)."""
        return self.alpha is not None

    @property
    def solves_alpha(self):
        """``α = α*`` is solved for (the discrete chain rule with equality)."""
        return self.alpha == "solved"

    @property
    def bounds_alpha(self):
        """``α`` is raised to ``α*`` (the chain-rule inequality)."""
        return self.alpha == "bound"

    def theta(self, w0, w1, alpha):
        """``θ`` (UFL) from ``w^n``, the unknown ``w^{n+1}`` and ``α``."""
        return w0 + alpha * (w1 - w0) if self.uses_alpha else w1

    def mobility_state(self, model, w0, theta):
        """``f_*`` (UFL)."""
        return model.density(w0) if self.frozen_mobility else model.density(theta)

    def transport_state(self, model, w1, fstar):
        """``f_L`` (UFL): the minimizing movement takes the reversible part at
        ``F(w^{n+1})`` (at the frozen ``f^n`` transport would be explicit and the entropy
        could grow by ``O(Δt)`` per step; tested with ``w^{n+1}`` it vanishes up to
        quadrature); the others at ``f_*``."""
        return model.density(w1) if self.frozen_mobility else fstar

    def __repr__(self):
        return f"Scheme({self.name!r})"


_BY_NAME = {s.name: s for s in (
    Scheme("backward-euler", 1),
    Scheme("minimizing-movement", 1, frozen_mobility=True),
    Scheme("midpoint", 2, alpha="bound"),
    Scheme("discrete-gradient", 2, alpha="solved"),
)}

#: the names of the schemes
SCHEMES = tuple(_BY_NAME)


def scheme_named(name):
    """The :class:`Scheme` called ``name`` (an error naming the choices otherwise)."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise InvalidParameterError(f"unknown scheme {name!r}; choose one of {SCHEMES}") from None
