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
