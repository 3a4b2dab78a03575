import jax
import jax.numpy as jnp
import numpy as np
import pytest

from setbench.idiffmf import normalize_gains


def test_frobenius_and_nuclear_scale_the_whole_batch_matrix():
    g = jnp.asarray(np.random.default_rng(0).standard_normal((4, 10)))
    mask = jnp.ones((4, 10), bool)
    fro = normalize_gains(g, mask, "fro")
    np.testing.assert_allclose(jnp.sqrt(jnp.sum(fro**2)), 2 / 10, rtol=1e-6)
    nuc = normalize_gains(g, mask, "nuclear")
    np.testing.assert_allclose(jnp.sum(jnp.linalg.svd(nuc, compute_uv=False)), 2 / 10, rtol=1e-5)


def test_constant_scaling():
    g = jnp.ones((2, 4))
    np.testing.assert_allclose(normalize_gains(g, jnp.ones((2, 4), bool), "c", c=0.5), 2 / (4 * 0.5))


def test_padding_rows_do_not_change_the_norms():
    g = jnp.asarray(np.random.default_rng(1).standard_normal((3, 6)))
    padded = jnp.concatenate([g, jnp.zeros((2, 6))])
    mask = jnp.concatenate([jnp.ones((3, 6), bool), jnp.zeros((2, 6), bool)])
    for kind in ("fro", "nuclear", "c"):
        np.testing.assert_allclose(normalize_gains(padded, mask, kind)[:3], normalize_gains(g, mask[:3], kind), rtol=1e-6)


def test_unknown_normalization():
    with pytest.raises(ValueError, match="unknown normalization 'l1'; choose one of c, fro, nuclear"):
        normalize_gains(jnp.ones((1, 2)), jnp.ones((1, 2), bool), "l1")


def test_per_set_scope_gives_every_set_the_same_norm():
    g = jnp.asarray(np.random.default_rng(2).standard_normal((4, 10)))
    mask = jnp.ones((4, 10), bool).at[3, 6:].set(False)
    g = g * mask
    for kind in ("fro", "nuclear"):
        scaled = normalize_gains(g, mask, kind, scope="set")
        np.testing.assert_allclose(jnp.linalg.norm(scaled, axis=1), 2 / mask.sum(1), rtol=1e-6)


def test_per_set_frobenius_and_nuclear_norms_coincide_with_the_singular_value_of_the_row():
    """A 1 × |V| matrix has one singular value, its ℓ2 norm: computed here by SVD, independently."""
    g = np.random.default_rng(3).standard_normal((3, 7))
    mask = jnp.ones((3, 7), bool)
    expected = np.stack([row * 2 / (7 * np.linalg.svd(row[None], compute_uv=False).sum()) for row in g])
    for kind in ("fro", "nuclear"):
        np.testing.assert_allclose(normalize_gains(jnp.asarray(g), mask, kind, scope="set"), expected, rtol=1e-5)


def test_per_set_scope_does_not_depend_on_the_other_rows_but_batch_scope_does():
    g = jnp.asarray(np.random.default_rng(4).standard_normal((5, 6)))
    mask = jnp.ones((5, 6), bool)
    for kind, scope, independent in [("fro", "set", True), ("nuclear", "set", True), ("fro", "batch", False),
                                     ("nuclear", "batch", False)]:
        together = normalize_gains(g, mask, kind, scope=scope)
        alone = jnp.concatenate([normalize_gains(g[i:i + 1], mask[i:i + 1], kind, scope=scope) for i in range(5)])
        assert bool(jnp.allclose(together, alone, rtol=1e-6)) is independent


def test_a_zero_row_keeps_finite_derivatives():
    """A padding set's gains are 0; forward and reverse derivatives must stay finite in float32 (a norm
    clamped to a tiny number once gave 0/0 in the tangent, and NaN parameters after the update)."""
    g = jnp.zeros((2, 4)).at[0].set(jnp.arange(1.0, 5.0))
    mask = jnp.ones((2, 4), bool).at[1].set(False)
    for kind, scope in [("fro", "set"), ("fro", "batch"), ("nuclear", "set")]:
        fn = lambda x: normalize_gains(x, mask, kind, scope=scope)  # noqa: E731
        assert bool(jnp.all(jnp.isfinite(jax.jacobian(fn)(g))))
        assert bool(jnp.all(jnp.isfinite(jax.jvp(fn, (g,), (jnp.ones_like(g) * mask,))[1])))
    np.testing.assert_array_equal(normalize_gains(g, mask, "fro", scope="set")[1], 0.0)


def test_unknown_scope():
    with pytest.raises(ValueError, match="unknown normalization scope 'row'; choose one of batch, set"):
        normalize_gains(jnp.ones((1, 2)), jnp.ones((1, 2), bool), "fro", scope="row")
