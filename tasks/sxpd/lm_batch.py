"""Levenberg–Marquardt on a stack of windows at once, and the parameter errors at the solution.

Every window is its own least-squares problem; they share the loop: each iteration solves the
damped normal equations of the windows still moving (per size class, ``window_model``), evaluates
the trial points in one model pass, and accepts or refuses each window's step on its own χ².
A window stops when its step is a small fraction of every parameter's standard error, when its χ²
no longer moves, or when its damping has grown past use (LM keeps refusing its steps).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.sxpd.fit_parameters import N_GROUP_PARAMS, ParameterSpace
from tasks.sxpd.window_model import WindowModel, class_blocks, normal_equations


@dataclass
class LMState:
    """Per-window state of the batched solve (G windows, P parameters)."""

    params: np.ndarray  # [G, P] current point
    jtj: np.ndarray  # [G, P, P] JᵀJ at it
    grad: np.ndarray  # [G, P] Jᵀr at it
    chi2: np.ndarray  # [G] χ² at it
    mu: np.ndarray  # [G] damping
    nu: np.ndarray  # [G] growth of μ on consecutive refusals (Nielsen)
    converged: np.ndarray  # [G]
    step_var: np.ndarray  # [G, P] squared standard errors from the first damped solve


@dataclass
class Tolerances:
    """When a window has converged: its step is below ``step_sigma`` standard errors of every
    parameter, or a taken step lowered χ² by less than ``chi2`` × χ²."""

    chi2: float
    step_sigma: float


def initial_state(model: WindowModel, params: np.ndarray, n_peaks: np.ndarray) -> LMState:
    """The state at the starting point. Crowded windows start more damped: their first
    Gauss–Newton steps overshoot (peaks trading intensity) and would be refused several times
    while μ climbs from 1e-3."""
    G = len(params)
    jtj, grad, chi2 = normal_equations(model, params, np.arange(G))
    return LMState(params, jtj, grad, chi2, np.where(n_peaks >= 3, 1e-1, 1e-3), np.full(G, 2.0),
                   np.zeros(G, dtype=bool), np.ones((G, model.n_params)))


def linear_start(model: WindowModel, state: LMState, space: ParameterSpace) -> None:
    """One exact least-squares step in the background and the areas alone (positions, widths, η
    and α held), kept where it lowers χ². The model is linear in them: the step replaces the
    height-based guesses, which in crowded windows overshoot and cost several refused LM steps."""
    G, P = state.params.shape
    all_rows = np.arange(G)
    lin = space.free.copy()
    lin[:, 2:N_GROUP_PARAMS] = False
    lin[:, N_GROUP_PARAMS:] &= np.tile(np.array([False, False, True]), (P - N_GROUP_PARAMS) // 3)[None, :]
    A = state.jtj * lin[:, :, None] * lin[:, None, :]
    A.reshape(G, -1)[:, ::P + 1] += np.where(lin, 1e-12 * np.einsum("gpp->gp", state.jtj), 1.0)
    step = np.zeros((G, P))
    for s0, s1, pc in class_blocks(model.sizes, all_rows):
        step[s0:s1, :pc] = np.linalg.solve(A[s0:s1, :pc, :pc],
                                           (state.grad[s0:s1, :pc] * lin[s0:s1, :pc])[:, :, None])[:, :, 0]
    trial = np.clip(state.params + step, space.lower, space.upper)
    jtj_t, grad_t, new = normal_equations(model, trial, all_rows)
    better = new < state.chi2
    state.params[better] = trial[better]
    state.jtj[better], state.grad[better], state.chi2[better] = jtj_t[better], grad_t[better], new[better]


def _solve_per_class(model: WindowModel, A: np.ndarray, rhs: np.ndarray, rows: np.ndarray,
                     step_var: np.ndarray | None) -> np.ndarray:
    """Solve the damped systems A·step = rhs of ``rows`` per size class. With ``step_var`` the
    same solve also gives the inverse, whose diagonal (each parameter's squared standard error)
    is written into ``step_var`` for ``rows``: the identity right-hand side is most of a solve's
    cost, so later iterations reuse those errors (a stopping rule needs their size, not their
    last digit)."""
    step = np.zeros_like(rhs)
    for s0, s1, pc in class_blocks(model.sizes, rows):
        if step_var is not None:
            eye = np.broadcast_to(np.eye(pc), (s1 - s0, pc, pc))
            sol = np.linalg.solve(A[s0:s1, :pc, :pc], np.concatenate([rhs[s0:s1, :pc, None], eye], axis=2))
            step[s0:s1, :pc] = sol[:, :, 0]
            step_var[rows[s0:s1], :pc] = np.einsum("gpp->gp", sol[:, :, 1:])
        else:
            step[s0:s1, :pc] = np.linalg.solve(A[s0:s1, :pc, :pc], rhs[s0:s1, :pc, None])[:, :, 0]
    return step


def damped_step(model: WindowModel, jtj: np.ndarray, grad: np.ndarray, params: np.ndarray,
                space: ParameterSpace, mu: np.ndarray, rows: np.ndarray,
                step_var: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Projected LM trial point of the windows ``rows`` and the χ² reduction the damped linear
    model predicts for it (all arguments: those windows' rows). ``jtj`` is a private copy: it is
    damped in place. With ``step_var``, the parameters' squared errors are written into it
    (``_solve_per_class``).

    A parameter held at a bound by its gradient sits out this step: the others then take the
    step that is optimal with it held, not one that assumed it moves. Fixed parameters have zero
    rows and columns in JᵀJ and a zero gradient: the damping alone keeps the system regular and
    their step is exactly zero.
    """
    P = jtj.shape[-1]
    free, lower, upper = space.free, space.lower, space.upper
    diag = np.einsum("gpp->gp", jtj)
    diag = np.where(free & (diag > 0), diag, 1.0)
    act = free & ~np.where(grad < 0, params <= lower, (params >= upper) & (grad > 0))
    if (act != free).any():
        act_f = act.astype(np.float64)
        jtj *= act_f[:, :, None] * act_f[:, None, :]
    jtj.reshape(len(rows), -1)[:, ::P + 1] += mu[:, None] * diag
    g_act = grad * act
    # (with ``step_var``, the damped system's errors: slightly small, a conservative stopping test)
    step = _solve_per_class(model, jtj, g_act, rows, step_var)
    predicted = np.einsum("gp,gp->g", step, (mu[:, None] * diag) * step + g_act)
    return np.clip(params + step * act, lower, upper), predicted


def settled(trial: np.ndarray, params: np.ndarray, step_var: np.ndarray, chi2: np.ndarray, dof: np.ndarray,
            step_sigma: float) -> np.ndarray:
    """Windows whose step is below ``step_sigma`` standard errors of every parameter (scaled like
    the reported errors by the reduced χ² when that exceeds 1): converged where they stand, the
    trial point is not worth a model evaluation."""
    scale = np.maximum(chi2 / dof, 1.0)
    significance = (np.abs(trial - params) / np.sqrt(step_var * scale[:, None])).max(axis=1)
    return significance < step_sigma


def nielsen_damping(mu: np.ndarray, nu: np.ndarray, better: np.ndarray, rho: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Nielsen's update of (μ, ν): after a good step μ falls by up to 3× (less when the linear
    model predicted the gain ``rho`` poorly); each refusal raises μ by ν, which doubles, so a window
    that overshot recovers in a few trials instead of creeping up by a fixed factor."""
    mu_new = np.where(better, np.maximum(mu * np.maximum(1.0 / 3.0, 1.0 - (2.0 * np.clip(rho, 0.0, 1.0) - 1.0) ** 3),
                                         1e-9), mu * nu)
    return mu_new, np.where(better, 2.0, nu * 2.0)


def iterate(model: WindowModel, state: LMState, space: ParameterSpace, dof: np.ndarray, tol: Tolerances,
            first: bool) -> None:
    """One LM iteration of the windows not yet converged: step, convergence test, one model pass
    at the trial points of those still moving, acceptance and damping update (``state`` in place)."""
    rows = np.flatnonzero(~state.converged)
    # a pass over every window uses the state's arrays themselves (read only until the updates)
    whole = len(rows) == model.n_windows

    def take(a: np.ndarray) -> np.ndarray:
        return a if whole else a[rows]

    p_r, cur_r, mu_r = take(state.params), take(state.chi2), take(state.mu)
    space_r = ParameterSpace(take(space.free), take(space.lower), take(space.upper))
    trial, predicted = damped_step(model, state.jtj.copy() if whole else state.jtj[rows], take(state.grad), p_r,
                                   space_r, mu_r, rows, state.step_var if first else None)
    done = settled(trial, p_r, take(state.step_var), cur_r, take(dof), tol.step_sigma)
    if done.any():
        state.converged[rows[done]] = True
        moving = ~done
        rows, trial, predicted = rows[moving], trial[moving], predicted[moving]
        cur_r, mu_r = cur_r[moving], mu_r[moving]
        if not len(rows):
            return
    accept_or_refuse(state, rows, trial, normal_equations(model, trial, rows), cur_r, mu_r, predicted, tol.chi2)


def accept_or_refuse(state: LMState, rows: np.ndarray, trial: np.ndarray,
                     evaluated: tuple[np.ndarray, np.ndarray, np.ndarray], chi2: np.ndarray, mu: np.ndarray,
                     predicted: np.ndarray, chi2_tolerance: float) -> None:
    """Take each window's trial point where it lowers χ², mark converged the windows whose χ² no
    longer moves (or whose steps LM keeps refusing), and update the damping of ``rows``.

    ``evaluated``: (JᵀJ, Jᵀr, χ²) at ``trial``; ``chi2``/``mu``: the windows' current values — in a
    full pass the state's own arrays, so everything is computed from them before they are updated.
    """
    jtj_t, grad_t, new = evaluated
    better = new < chi2
    stalled = chi2 - new < chi2_tolerance * chi2
    rho = (chi2 - new) / np.where(predicted > 0, predicted, np.inf)
    acc = rows[better]
    state.params[acc] = trial[better]
    state.jtj[acc] = jtj_t[better]
    state.grad[acc] = grad_t[better]
    state.chi2[acc] = new[better]
    state.converged[rows] = np.where(better, stalled, mu > 1e4)
    state.mu[rows], state.nu[rows] = nielsen_damping(mu, state.nu[rows], better, rho)


def solve(model: WindowModel, params: np.ndarray, space: ParameterSpace, n_peaks: np.ndarray, dof: np.ndarray,
          tol: Tolerances, max_iterations: int, start_linear: bool) -> tuple[LMState, int]:
    """Refine the [G, P] starting ``params`` of every window; returns the final state and the
    number of iterations the slowest window took."""
    state = initial_state(model, params, n_peaks)
    if start_linear:
        linear_start(model, state, space)
    it = 0
    for it in range(1, max_iterations + 1):
        if state.converged.all():
            break
        iterate(model, state, space, dof, tol, first=it == 1)
    return state, it


def parameter_sigmas(model: WindowModel, state: LMState, free: np.ndarray, dof: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors [G, P] at the solution (zero for fixed parameters) and each window's
    reduced χ²; errors are scaled by the reduced χ² where it exceeds 1. Overwrites ``state.jtj``."""
    G, P = state.params.shape
    state.jtj.reshape(G, -1)[:, ::P + 1] += ~free  # fixed parameters: a unit diagonal (no longer needed as is)
    chi2_red = state.chi2 / dof
    var = np.zeros((G, P))
    for s0, s1, pc in class_blocks(model.sizes, np.arange(G)):
        var[s0:s1, :pc] = pinv_diagonal(state.jtj[s0:s1, :pc, :pc])
    var *= np.maximum(chi2_red, 1.0)[:, None]
    return np.sqrt(np.clip(var, 0, None)) * free, chi2_red


def pinv_diagonal(m: np.ndarray) -> np.ndarray:
    """Diagonal of ``np.linalg.pinv(m)`` for a stack of symmetric positive semi-definite matrices.

    A parameter with an all-zero row and column (e.g. the position of a peak whose area went to
    zero: no position information) is decoupled, and ``pinv`` gives it zero variance; it is set
    aside and the rest is inverted directly. A matrix whose inverse does not check out
    (numerically singular beyond that) gets the exact ``pinv`` treatment: eigenvalues below
    1e-15 × the largest dropped. The check needs only diagonals: for a positive definite matrix
    1 ≤ A_ii·(A⁻¹)_ii, and the product is the variance inflation of parameter i by its correlations
    with the others; above 1e10 (or below 1, or not finite) the direct inverse is not trusted.
    """
    n = m.shape[-1]
    d = np.einsum("gpp->gp", m)
    dead = d == 0
    work = m + dead[:, :, None] * np.eye(n)[None]
    try:
        inv_diag = np.einsum("gpp->gp", np.linalg.inv(work))
        inflation = inv_diag * np.where(dead, 1.0, d)
        ok = (np.isfinite(inflation) & (inflation > 1.0 - 1e-6) & (inflation < 1e10)).all(axis=1)
    except np.linalg.LinAlgError:
        inv_diag, ok = np.zeros_like(d), np.zeros(len(m), dtype=bool)
    out = np.where(dead, 0.0, inv_diag)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        vals, vecs = np.linalg.eigh(m[bad])
        s = np.abs(vals)
        large = s > 1e-15 * s.max(axis=-1, keepdims=True)
        inv_s = np.divide(1.0, s, out=np.zeros_like(s), where=large)
        out[bad] = np.einsum("gij,gj,gij->gi", vecs, inv_s, vecs)
    return out
