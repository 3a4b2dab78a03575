"""The element encoders agree across frameworks on transplanted weights, and with the NumPy reference."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from setbench import baselines, idiffmf
from setbench.datasets import bindingdb, pdbbind
from setbench.protocol import SetFunctionConfig, encoders

CONFIG = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=2)


def _flax_params_from(model: torch.nn.Module) -> dict:
    """A torch state dict laid out as Flax parameters: ``a.b.0.weight`` → ``a/b_0/kernel``, kernels transposed."""
    params: dict = {}
    for key, value in model.state_dict().items():
        value = value.detach().numpy()
        path = re.sub(r"\.(\d+)(?=\.)", r"_\1", key).split(".")
        leaf = path.pop()
        if path[-1] in ("rho_in",):  # the set function keeps rho_in as two bare parameters
            path, leaf = path[:-1], f"rho_in_{'kernel' if leaf == 'weight' else 'bias'}"
            value = value.T if leaf.endswith("kernel") else value
        elif leaf == "weight":
            leaf = "kernel"
            value = {2: (1, 0), 3: (2, 1, 0), 4: (2, 3, 1, 0)}[value.ndim]
            value = model.state_dict()[key].detach().numpy().transpose(value)
        node = params
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = jnp.asarray(value)
    return {"params": params}


def _items(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """float32 ``[1, n, *item_shape]`` random items of ``kind``."""
    if kind == "vector":
        return rng.standard_normal((1, n, 5)).astype(np.float32)
    if kind == "image":
        return rng.uniform(-1, 1, (1, n, 3, 28, 28)).astype(np.float32)
    if kind == "drug_target":
        drug = rng.integers(0, len(bindingdb.SMILES_ALPHABET) + 1, (1, n, bindingdb.DRUG_LENGTH))
        protein = rng.integers(0, len(bindingdb.PROTEIN_ALPHABET) + 1, (1, n, bindingdb.PROTEIN_LENGTH))
        return np.concatenate([drug, protein], axis=-1).astype(np.float32)
    atoms = np.zeros((1, n, 7, pdbbind.N_COLUMNS), np.float32)
    atoms[..., :5, pdbbind.COL_FRAGMENT] = [1, 1, 2, 2, 2]  # two padding rows
    atoms[..., :5, pdbbind.COL_TYPE] = rng.integers(1, pdbbind.OTHER_TYPE + 1, (1, n, 5))
    for graph in pdbbind.GRAPHS:
        types, dists = pdbbind.neighbour_columns(graph)
        atoms[..., :5, types] = rng.integers(0, pdbbind.OTHER_TYPE + 1, (1, n, 5, pdbbind.NEIGHBOURS))
        atoms[..., :5, dists] = rng.uniform(0.5, 13.0, (1, n, 5, pdbbind.NEIGHBOURS))
    return atoms


KINDS = ["vector", "image", "drug_target", "complex"]


@pytest.mark.parametrize("kind", KINDS)
def test_encoders_agree_across_frameworks_on_transplanted_weights(kind):
    rng = np.random.default_rng(0)
    x = _items(kind, 3, rng)
    subsets = (rng.random((1, 4, 3)) < 0.5).astype(np.float32)
    torch.manual_seed(0)
    model = baselines.SetFunction(x.shape[2:], CONFIG, item_kind=kind)
    module = idiffmf.SetFunction(in_features=x.shape[2:], config=CONFIG, item_kind=kind)
    init = module.init(jax.random.PRNGKey(0), jnp.asarray(x), jnp.asarray(subsets))
    params = _flax_params_from(model)
    assert jax.tree_util.tree_map(jnp.shape, params) == jax.tree_util.tree_map(jnp.shape, init)
    with torch.no_grad():
        expected = model(torch.as_tensor(x), torch.as_tensor(subsets)).numpy()
        expected_terms = model.element_terms(torch.as_tensor(x)).numpy()
    got = np.asarray(module.apply(params, jnp.asarray(x), jnp.asarray(subsets)))
    terms = np.asarray(module.apply(params, jnp.asarray(x), method=idiffmf.SetFunction.element_terms))
    np.testing.assert_allclose(terms, expected_terms, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_initialisation_bounds_match_torch_defaults(kind):
    """Every Flax kernel and bias lies within U(±1/√fan_in), fan_in = input width × kernel size."""
    x = _items(kind, 2, np.random.default_rng(1))
    module = idiffmf.SetFunction(in_features=x.shape[2:], config=CONFIG, item_kind=kind)
    params = module.init(jax.random.PRNGKey(3), jnp.asarray(x), jnp.ones((1, 2)))["params"]["phi"]
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if path[-1].key == "kernel":
            bias = params
            for part in path[:-1]:
                bias = bias[part.key]
            fan_in = int(np.prod(leaf.shape[:-1]))
            assert float(jnp.abs(leaf).max()) <= 1 / np.sqrt(fan_in) + 1e-7
            assert float(jnp.abs(bias["bias"]).max()) <= 1 / np.sqrt(fan_in) + 1e-7


def test_radial_features_match_the_numpy_reference_in_both_frameworks():
    """The atomic convolution (one formula in three places) against a hand-checked case."""
    types = np.array([[1, 2, 0, 1], [15, 1, 1, 0]], dtype=np.float32)
    dists = np.array([[1.0, 2.5, 3.0, 12.5], [0.3, 11.9, 6.0, 0.0]], dtype=np.float32)
    reference = encoders.radial_features(types, dists)
    # hand check: neighbour (type 1, r = 1) contributes exp(-4 (1 - μ)²) · ½(cos(π/12) + 1) to type-1 columns
    spec = encoders.ATOMIC_CONV
    first = np.exp(-spec.scaling * (1.0 - np.array(spec.means)) ** 2) * 0.5 * (np.cos(np.pi / 12) + 1)
    np.testing.assert_allclose(reference[0].reshape(len(spec.means), spec.n_types)[:, 0], first, rtol=1e-12)
    assert reference.shape == (2, spec.features_per_atom)  # r = 12.5 ≥ cutoff and type 0 contribute nothing
    from setbench.baselines.encoders import radial_features as torch_radial
    from setbench.idiffmf.encoders import radial_features as jax_radial

    np.testing.assert_allclose(torch_radial(torch.as_tensor(types), torch.as_tensor(dists)).numpy(), reference,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jax_radial(jnp.asarray(types), jnp.asarray(dists))), reference,
                               rtol=1e-5, atol=1e-6)


def test_padding_atoms_and_codes_do_not_change_the_embedding():
    """Zero-padded atoms (fragment 0) and padding characters (code 0) are invisible to φ."""
    rng = np.random.default_rng(2)
    torch.manual_seed(0)
    atoms = _items("complex", 2, rng)
    model = baselines.SetFunction(atoms.shape[2:], CONFIG, item_kind="complex")
    wider = np.concatenate([atoms, np.zeros(atoms.shape[:2] + (4, pdbbind.N_COLUMNS), np.float32)], axis=2)
    with torch.no_grad():
        np.testing.assert_allclose(model.phi(torch.as_tensor(atoms)).numpy(), model.phi(torch.as_tensor(wider)).numpy(),
                                   rtol=1e-6, atol=1e-6)
    codes = _items("drug_target", 1, rng)
    codes[..., 50:bindingdb.DRUG_LENGTH] = 0  # a shorter SMILES
    dta = baselines.SetFunction(codes.shape[2:], CONFIG, item_kind="drug_target")
    onehot = baselines.encoders.one_hot_codes(torch.as_tensor(codes[0, :, :bindingdb.DRUG_LENGTH]),
                                              len(bindingdb.SMILES_ALPHABET))
    assert onehot[:, :, 50:].abs().sum() == 0 and torch.all(onehot[:, :, :50].sum(1) == (codes[0, :, :50] > 0))
    assert dta.phi(torch.as_tensor(codes)).shape == (1, 1, CONFIG.embed_dim)


@pytest.mark.parametrize("encoder, kind, shape, message", [
    ("linear", "image", (3, 64, 64), "encodes vector items"),
    ("image_cnn", "image", (1, 8, 8), "at least 25 pixels a side"),
    ("deepdta", "drug_target", (300,), "expects items"),
    ("resnet", "image", (3, 64, 64), "is unknown"),
])
def test_encoder_mismatches_are_clear_errors(encoder, kind, shape, message):
    with pytest.raises(ValueError, match=message):
        encoders.resolve_encoder(encoder, kind, shape)


def test_auto_picks_the_item_kinds_encoder():
    assert encoders.resolve_encoder("auto", "vector", (2,)) == "linear"
    assert encoders.resolve_encoder("auto", "image", (3, 64, 64)) == "image_cnn"
    assert encoders.conv_output_length(64, encoders.IMAGE_CNN) == 5  # 64 → 31 → 14 → 5
    with pytest.raises(ValueError, match="SetFunctionConfig.encoder must be 'auto' or one of"):
        SetFunctionConfig(encoder="resnet")
