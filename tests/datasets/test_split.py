import numpy as np
import pytest

from setbench.datasets import SetSplit


def _fields(**overrides):
    fields = dict(
        features=np.zeros((6, 2), np.float32),
        ground_sets=np.array([[0, 1, 2], [3, 4, 5]], np.int64),
        mask=np.ones((2, 3), bool),
        optimal=np.array([[True, False, False], [False, True, False]]),
    )
    fields.update(overrides)
    return fields


def test_valid_split_is_read_only():
    split = SetSplit(**_fields(), name="toy")
    assert split.n_sets == 2 and split.v_size == 3 and split.item_shape == (2,)
    with pytest.raises(ValueError):
        split.optimal[0, 0] = False


@pytest.mark.parametrize("overrides, message", [
    ({"ground_sets": np.array([[0, 1, 2], [3, 4, 5]], np.int32)}, "'ground_sets' must have dtype int64"),
    ({"mask": np.ones((2, 4), bool)}, "'mask' has shape"),
    ({"ground_sets": np.array([[0, 1, 2], [3, 4, 6]], np.int64)}, "outside 0..5"),
    ({"mask": np.array([[False, True, True], [True, True, True]])}, "optimal marks padding"),
    ({"features": np.full((6, 2), np.nan, np.float32)}, "non-finite"),
    ({"features": np.zeros(6, np.float32)}, "features"),
])
def test_contract_violations_name_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        SetSplit(**_fields(**overrides), name="toy")


def test_subset_shares_the_feature_table():
    split = SetSplit(**_fields(), name="toy")
    sub = split.subset(np.array([1]))
    assert sub.features is split.features and sub.n_sets == 1
    np.testing.assert_array_equal(sub.set_features(), split.set_features()[1:])


@pytest.mark.parametrize("kind, features, message", [
    ("pixels", np.zeros((6, 2), np.float32), "item_kind 'pixels' is not one of vector, image, drug_target, complex"),
    ("image", np.zeros((6, 2), np.float32), r"'image' items are \[channels, height, width\].*got shape \(6, 2\)"),
    ("vector", np.zeros((6, 1, 4, 4), np.float32), r"'vector' items are \[d\] feature vector"),
])
def test_item_kind_fixes_the_item_dimensions(kind, features, message):
    with pytest.raises(ValueError, match=message):
        SetSplit(**_fields(features=features), item_kind=kind)


def test_subsets_keep_the_item_kind():
    split = SetSplit(**_fields(features=np.zeros((6, 1, 4, 4), np.float32)), item_kind="image")
    assert split.subset(np.array([1])).item_kind == "image"
