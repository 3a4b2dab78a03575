import numpy as np

from setbench.protocol import epoch_batches, loss_mask


def test_epoch_batches_partition_the_sets():
    batches = epoch_batches(10, 4, np.random.default_rng(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))


def test_loss_mask_holds_members_and_neg_num_times_as_many_non_members():
    rng = np.random.default_rng(0)
    optimal = np.zeros((50, 10), bool)
    optimal[:, :3] = True
    mask = np.ones((50, 10), bool)
    mask[:, -1] = False  # padding is never a negative
    chosen = loss_mask(optimal, mask, 2, rng)
    assert (chosen & optimal).sum() == optimal.sum()
    assert ((chosen & ~optimal).sum(axis=1) == 6).all()  # all 6 valid non-members
    assert not (chosen & ~mask).any()
    chosen = loss_mask(optimal, mask, 1, rng)
    assert ((chosen & ~optimal).sum(axis=1) == 3).all()
    again = loss_mask(optimal, mask, 1, rng)
    assert not np.array_equal(chosen, again)  # resampled at every call (every epoch)


def test_loss_mask_takes_all_non_members_when_too_few():
    optimal = np.array([[True, True, False]])
    chosen = loss_mask(optimal, np.ones((1, 3), bool), 5, np.random.default_rng(0))
    assert chosen.all()
